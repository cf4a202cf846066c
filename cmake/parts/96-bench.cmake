# bench: throughput of the authentication pipeline against the pure-crypto
# floor (bench/bench_auth.c). Real figures need a Release build without
# sanitizers:
#   cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release && cmake --build build-bench --target bench_auth
#   build-bench/bench_auth [--messages N] [--size BYTES] [--algo rsa|ed25519]
# CTest runs only a 50-message smoke check of the results (label bench); it
# never judges timing.
if(TARGET mamori_authcheck AND EXISTS ${CMAKE_SOURCE_DIR}/bench/bench_auth.c)
  add_executable(bench_auth bench/bench_auth.c)
  target_link_libraries(bench_auth mamori_authcheck mamori_dkim mamori_dns mamori_core PkgConfig::OPENSSL)
  add_test(NAME bench_auth_smoke COMMAND bench_auth --messages 50)
  set_tests_properties(bench_auth_smoke PROPERTIES LABELS bench TIMEOUT 300)
  add_test(NAME bench_auth_smoke_ed25519 COMMAND bench_auth --messages 50 --algo ed25519)
  set_tests_properties(bench_auth_smoke_ed25519 PROPERTIES LABELS bench TIMEOUT 300)
  # the result check itself must be able to fail: bodies altered after signing
  add_test(NAME bench_auth_detects_bad COMMAND bench_auth --messages 50 --corrupt)
  set_tests_properties(bench_auth_detects_bad PROPERTIES LABELS bench TIMEOUT 300
    PASS_REGULAR_EXPRESSION "RESULT CHECK FAILED: 100 of 100 .*dkim=fail.*result=FAIL")
endif()

# Acceptance tests of mamorid's inbound policy behind a real Postfix (issue 4)
# and the milter benchmark. Integration tests exit 77 (skipped) without root
# or Postfix. The bench smoke run only checks that every message got 250;
# real figures need a Release build (docs/benchmarks.md):
#   cmake -S . -B build-rel -DCMAKE_BUILD_TYPE=Release
#   cmake --build build-rel --target mamorid bench_milter -j2
#   bash bench/milter.sh --bench build-rel/bench_milter --mamorid build-rel/mamorid
if(TARGET mamorid AND TARGET mamori)
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/test_inbound.sh)
    add_test(NAME test_inbound
      COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_inbound.sh
        $<TARGET_FILE:mamorid> $<TARGET_FILE:mamori>)
    set_tests_properties(test_inbound PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 240)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/test_milter_fault.sh)
    add_test(NAME test_milter_fault
      COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_milter_fault.sh
        $<TARGET_FILE:mamorid> $<TARGET_FILE:mamori>)
    set_tests_properties(test_milter_fault PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 300)
  endif()
endif()

if(TARGET mamorid AND TARGET mamori_dkim AND EXISTS ${CMAKE_SOURCE_DIR}/bench/bench_milter.c)
  add_executable(bench_milter bench/bench_milter.c)
  target_link_libraries(bench_milter mamori_dkim mamori_authbase mamori_core PkgConfig::OPENSSL Threads::Threads)
  if(EXISTS ${CMAKE_SOURCE_DIR}/bench/milter.sh)
    add_test(NAME bench_milter_smoke
      COMMAND bash ${CMAKE_SOURCE_DIR}/bench/milter.sh --smoke
        --bench $<TARGET_FILE:bench_milter> --mamorid $<TARGET_FILE:mamorid>)
    set_tests_properties(bench_milter_smoke PROPERTIES LABELS bench SKIP_RETURN_CODE 77 TIMEOUT 240)
  endif()
endif()

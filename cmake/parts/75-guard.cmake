# guard: submission guard. For now the in-process rate-limit engine
# (src/guard/ratelimit.c, GCRA); no milter, config or Redis wiring yet.
if(EXISTS ${CMAKE_SOURCE_DIR}/src/guard/ratelimit.c)
  add_library(mamori_guard STATIC ${CMAKE_SOURCE_DIR}/src/guard/ratelimit.c)
  target_link_libraries(mamori_guard mamori_core Threads::Threads)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_ratelimit.c)
    mamori_unit_test(test_ratelimit SOURCES tests/unit/test_ratelimit.c LIBS mamori_guard)
  endif()

  # bench: decisions/s and latency of the engine (bench/bench_ratelimit.c).
  # Real figures need a Release build without sanitizers:
  #   cmake -S . -B build-guard -DCMAKE_BUILD_TYPE=Release && cmake --build build-guard --target bench_ratelimit
  #   build-guard/bench_ratelimit [--decisions N] [--keys K] [--threads T]
  # CTest runs only a short smoke run that checks decisions (label bench);
  # it never judges timing.
  if(EXISTS ${CMAKE_SOURCE_DIR}/bench/bench_ratelimit.c)
    add_executable(bench_ratelimit bench/bench_ratelimit.c)
    target_link_libraries(bench_ratelimit mamori_guard mamori_core Threads::Threads)
    add_test(NAME bench_ratelimit_smoke COMMAND bench_ratelimit --decisions 200000 --keys 5000)
    set_tests_properties(bench_ratelimit_smoke PROPERTIES LABELS bench TIMEOUT 300)
    # the result check itself must be able to fail: the engine is given 6/min
    # where the check expects 5
    add_test(NAME bench_ratelimit_detects_bad COMMAND bench_ratelimit --decisions 200000 --keys 5000 --corrupt)
    set_tests_properties(bench_ratelimit_detects_bad PROPERTIES LABELS bench TIMEOUT 300
      PASS_REGULAR_EXPRESSION "RESULT CHECK FAILED: 5 per min on one key: got 6 allowed, expected 5")
  endif()
endif()

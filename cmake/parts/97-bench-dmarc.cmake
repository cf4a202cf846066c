# bench: DMARC aggregate report ingest (bench/bench_dmarc_ingest.c):
# records/s for parse-only and for import into SQLite, next to the floor
# (libarchive decompression + an expat parse that does nothing), and peak
# RSS at N and 4N reports. Real figures need a Release build without
# sanitizers:
#   cmake -S . -B build-dbench -DCMAKE_BUILD_TYPE=Release && cmake --build build-dbench --target bench_dmarc_ingest
#   build-dbench/bench_dmarc_ingest [--reports N] [--records M] [--repeat K]
# CTest runs only a tiny smoke run that checks the imported totals (label
# bench); it never judges timing.
if(TARGET mamori_report AND TARGET mamori_reportin AND TARGET mamori_store
   AND EXISTS ${CMAKE_SOURCE_DIR}/bench/bench_dmarc_ingest.c)
  if(NOT TARGET PkgConfig::EXPAT)
    pkg_check_modules(EXPAT REQUIRED IMPORTED_TARGET expat)
  endif()
  if(NOT TARGET PkgConfig::LIBARCHIVE)
    pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)
  endif()
  add_executable(bench_dmarc_ingest bench/bench_dmarc_ingest.c)
  target_link_libraries(bench_dmarc_ingest mamori_store mamori_reportin mamori_report mamori_core
    PkgConfig::LIBARCHIVE PkgConfig::EXPAT)

  # 4 reports x 20 records: every count must arrive in the store, and a
  # second import must change nothing
  add_test(NAME bench_dmarc_ingest_smoke
    COMMAND bench_dmarc_ingest --reports 4 --records 20 --dedup --tmpdir ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(bench_dmarc_ingest_smoke PROPERTIES LABELS bench TIMEOUT 300)
  # the result check itself must be able to fail: the last report is truncated
  add_test(NAME bench_dmarc_ingest_detects_bad
    COMMAND bench_dmarc_ingest --reports 4 --records 20 --no-scale --corrupt --tmpdir ${CMAKE_CURRENT_BINARY_DIR})
  set_tests_properties(bench_dmarc_ingest_detects_bad PROPERTIES LABELS bench TIMEOUT 300
    PASS_REGULAR_EXPRESSION "RESULT CHECK FAILED: store: reports: got 3, expected 4")
endif()

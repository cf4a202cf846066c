# report: the DMARC aggregate-report model (agg_report_free and helpers) and
# the hardened expat parser of aggregate-report XML (RFC 7489 appendix C,
# RFC 9990 DMARC 2.0 namespace)
if(EXISTS ${CMAKE_SOURCE_DIR}/src/dmarc/report.c AND EXISTS ${CMAKE_SOURCE_DIR}/src/dmarc/report_parse.c)
  if(NOT TARGET PkgConfig::EXPAT)
    pkg_check_modules(EXPAT REQUIRED IMPORTED_TARGET expat)
  endif()
  add_library(mamori_report STATIC src/dmarc/report.c src/dmarc/report_parse.c)
  target_link_libraries(mamori_report mamori_core PkgConfig::EXPAT)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_report_parse.c)
    mamori_unit_test(test_report_parse SOURCES tests/unit/test_report_parse.c LIBS mamori_report)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_report.c)
    mamori_fuzz_target(fuzz_report tests/fuzz/fuzz_report.c mamori_report)
  endif()
endif()

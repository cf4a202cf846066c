# reportin: finds DMARC reports in files, directories, mail, mbox and Maildir;
# unpacks gzip/zip/zlib under a size cap (libarchive, zlib); ARF parsing (GMime)
if(EXISTS ${CMAKE_SOURCE_DIR}/src/dmarc/report_input.c AND EXISTS ${CMAKE_SOURCE_DIR}/src/dmarc/arf_parse.c)
  if(NOT TARGET PkgConfig::LIBARCHIVE)
    pkg_check_modules(LIBARCHIVE REQUIRED IMPORTED_TARGET libarchive)
  endif()
  if(NOT TARGET PkgConfig::GMIME)
    pkg_check_modules(GMIME REQUIRED IMPORTED_TARGET gmime-3.0)
  endif()
  if(NOT TARGET PkgConfig::ZLIB)
    pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
  endif()

  add_library(mamori_reportin STATIC
    ${CMAKE_SOURCE_DIR}/src/dmarc/report_input.c
    ${CMAKE_SOURCE_DIR}/src/dmarc/arf_parse.c)
  target_link_libraries(mamori_reportin mamori_core PkgConfig::LIBARCHIVE PkgConfig::GMIME
    PkgConfig::ZLIB Threads::Threads)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_report_input.c)
    mamori_unit_test(test_report_input SOURCES tests/unit/test_report_input.c
      LIBS mamori_reportin PkgConfig::ZLIB)
    set_tests_properties(test_report_input PROPERTIES TIMEOUT 300)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_arf_parse.c)
    mamori_unit_test(test_arf_parse SOURCES tests/unit/test_arf_parse.c LIBS mamori_reportin)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_mime_report.c)
    mamori_fuzz_target(fuzz_mime_report tests/fuzz/fuzz_mime_report.c mamori_reportin)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_archive.c)
    mamori_fuzz_target(fuzz_archive tests/fuzz/fuzz_archive.c mamori_reportin)
  endif()
endif()

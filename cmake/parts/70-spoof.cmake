# spoof: lookalike domains (UTS #39 skeletons, IDN, edit distance, digit and
# letter-pair swaps, TLD swaps), display-name impersonation of VIPs, free-mail
# domains and Reply-To diversion. Pure signal functions, no milter or config.
if(EXISTS ${CMAKE_SOURCE_DIR}/src/spoof/lookalike.c AND EXISTS ${CMAKE_SOURCE_DIR}/src/spoof/impersonation.c)
  if(NOT TARGET PkgConfig::ICU)
    pkg_check_modules(ICU REQUIRED IMPORTED_TARGET icu-uc icu-i18n)
  endif()
  add_library(mamori_spoof STATIC src/spoof/lookalike.c src/spoof/impersonation.c)
  target_link_libraries(mamori_spoof mamori_core PkgConfig::ICU PkgConfig::LIBIDN2
    PkgConfig::LIBPSL Threads::Threads)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_lookalike.c)
    mamori_unit_test(test_lookalike SOURCES tests/unit/test_lookalike.c LIBS mamori_spoof)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_impersonation.c)
    mamori_unit_test(test_impersonation SOURCES tests/unit/test_impersonation.c LIBS mamori_spoof)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_lookalike.c)
    mamori_fuzz_target(fuzz_lookalike tests/fuzz/fuzz_lookalike.c mamori_spoof)
  endif()
endif()

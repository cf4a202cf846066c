# dmarc: From/MAIL FROM address parsing, DMARC records, policy discovery by
# the DNS Tree Walk (RFC 9989) or the PSL (RFC 7489), alignment, disposition
if(EXISTS ${CMAKE_SOURCE_DIR}/src/auth/dmarc.c AND EXISTS ${CMAKE_SOURCE_DIR}/src/auth/address.c)
  add_library(mamori_dmarc STATIC src/auth/dmarc.c src/auth/address.c)
  target_link_libraries(mamori_dmarc mamori_authbase mamori_dns mamori_core
    PkgConfig::LIBPSL PkgConfig::LIBIDN2 Threads::Threads)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_dmarc.c)
    mamori_unit_test(test_dmarc SOURCES tests/unit/test_dmarc.c LIBS mamori_dmarc)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_address.c)
    mamori_unit_test(test_address SOURCES tests/unit/test_address.c LIBS mamori_dmarc)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_dmarc.c)
    mamori_fuzz_target(fuzz_dmarc tests/fuzz/fuzz_dmarc.c mamori_dmarc)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_address.c)
    mamori_fuzz_target(fuzz_address tests/fuzz/fuzz_address.c mamori_dmarc)
  endif()
endif()

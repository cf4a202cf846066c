# inspect: content and reputation checks. For now the DNSBL module
# (src/inspect/dnsbl.c, RFC 5782); no milter or config wiring yet.
if(EXISTS ${CMAKE_SOURCE_DIR}/src/inspect/dnsbl.c)
  add_library(mamori_inspect STATIC ${CMAKE_SOURCE_DIR}/src/inspect/dnsbl.c)
  target_link_libraries(mamori_inspect mamori_dns mamori_core)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_dnsbl.c)
    mamori_unit_test(test_dnsbl SOURCES tests/unit/test_dnsbl.c LIBS mamori_inspect)
  endif()
endif()

# dns: resolver interface, stub backend (zone files), libunbound backend
file(GLOB DNS_SRC ${CMAKE_SOURCE_DIR}/src/dns/*.c)
add_library(mamori_dns STATIC ${DNS_SRC})
target_link_libraries(mamori_dns mamori_core ${UNBOUND_LIB} Threads::Threads)

if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_dns.c)
  mamori_unit_test(test_dns SOURCES tests/unit/test_dns.c LIBS mamori_dns)
endif()
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_zonefile.c)
  mamori_fuzz_target(fuzz_zonefile tests/fuzz/fuzz_zonefile.c mamori_dns)
endif()

# the libunbound backend against a real unbound server on 127.0.0.1
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/dns_query_tool.c)
  add_executable(dns_query_tool tests/integration/dns_query_tool.c)
  target_link_libraries(dns_query_tool mamori_dns)
  if(NOT MAMORI_FUZZ)
    add_test(NAME test_unbound
      COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_unbound.sh $<TARGET_FILE:dns_query_tool>)
    set_tests_properties(test_unbound PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 120)
  endif()
endif()

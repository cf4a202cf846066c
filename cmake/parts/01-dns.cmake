# dns: resolver interface, stub backend (zone files), libunbound backend
file(GLOB DNS_SRC ${CMAKE_SOURCE_DIR}/src/dns/*.c)
add_library(mamori_dns STATIC ${DNS_SRC})
target_link_libraries(mamori_dns mamori_core ${UNBOUND_LIB})

if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_dns.c)
  mamori_unit_test(test_dns SOURCES tests/unit/test_dns.c LIBS mamori_dns)
endif()
if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_zonefile.c)
  mamori_fuzz_target(fuzz_zonefile tests/fuzz/fuzz_zonefile.c mamori_dns)
endif()

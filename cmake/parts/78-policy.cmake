# policy: the inbound policy stage of mamorid (src/policy/inbound.c): checks
# compiled once per configuration snapshot, one decision per message. Linked
# into mamorid (milter wiring) and mamori (`mamori config check` validates
# the inbound, dnsbl and lists sections with it). It needs mamori_authcheck,
# which 90-cli.cmake declares, and both executables come later too, so the
# whole part runs deferred, once every part has declared its targets.
if(NOT TARGET PkgConfig::GMIME)
  pkg_check_modules(GMIME REQUIRED IMPORTED_TARGET gmime-3.0)
endif()

function(mamori_policy_part)
  if(NOT (TARGET mamori_authcheck AND TARGET mamori_spoof AND TARGET mamori_inspect
          AND EXISTS ${CMAKE_SOURCE_DIR}/src/policy/inbound.c))
    return()
  endif()
  add_library(mamori_policy STATIC src/policy/inbound.c src/policy/dnsbl_code.c)
  target_link_libraries(mamori_policy mamori_authcheck mamori_spoof mamori_inspect mamori_dmarc
    mamori_dns mamori_core PkgConfig::GMIME Threads::Threads)

  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/unit/test_inbound_policy.c)
    mamori_unit_test(test_inbound_policy SOURCES tests/unit/test_inbound_policy.c LIBS mamori_policy)
  endif()
  if(EXISTS ${CMAKE_SOURCE_DIR}/tests/fuzz/fuzz_dnsbl_codes.c)
    mamori_fuzz_target(fuzz_dnsbl_codes tests/fuzz/fuzz_dnsbl_codes.c mamori_policy)
  endif()

  if(TARGET mamori)
    target_link_libraries(mamori mamori_policy)
  endif()
  if(TARGET mamorid)
    # the milter writes the message log and the quarantine (mailstore.h,
    # built by 64-quarantine.cmake)
    target_link_libraries(mamorid mamori_policy)
    if(TARGET mamori_mailstore)
      target_link_libraries(mamorid mamori_mailstore)
    endif()
  endif()
  # the milter wiring behind a real Postfix (X-Mamori-* headers, message
  # log rows with GeoIP country, per-recipient deny lists, reloads);
  # 77 = skipped (not root, no postfix or swaks)
  if(TARGET mamorid AND TARGET mamori AND NOT MAMORI_FUZZ
     AND EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/test_milter_policy.sh)
    add_test(NAME test_milter_policy
      COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_milter_policy.sh
        $<TARGET_FILE:mamorid> $<TARGET_FILE:mamori>)
    set_tests_properties(test_milter_policy PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 180)
  endif()
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL mamori_policy_part)

# submission-test: acceptance test of the submission guard (issue 5) through
# a private Postfix with Cyrus SASL (sasldb), XCLIENT and the test GeoIP
# database: tests/integration/test_submission.sh. Needs mamorid (milter and
# policy service) and the mamori CLI (account list/show/lock/unlock).
# 77 = skipped (not root, no postfix/swaks/saslpasswd2, no test database).
if(TARGET mamorid AND TARGET mamori AND EXISTS ${CMAKE_SOURCE_DIR}/tests/integration/test_submission.sh)
  add_test(NAME test_submission
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/integration/test_submission.sh
      $<TARGET_FILE:mamorid> $<TARGET_FILE:mamori>)
  set_tests_properties(test_submission PROPERTIES LABELS integration SKIP_RETURN_CODE 77 TIMEOUT 300
    ENVIRONMENT "MAMORI_MMDB=${MAMORI_CORPUS}/mmdb-test/test-data/GeoLite2-Country-Test.mmdb")
endif()

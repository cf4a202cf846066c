# Sourced by the integration tests that run a private Postfix instance.
# pf_base_main_cf prints the main.cf lines they all share: the instance's
# own directories under $PF, loopback only, its log in $PF/maillog, and
# delivery of example.net to a Maildir per recipient under $MAIL (owned by
# postfix). Callers append their own lines (milters, SASL, transport).
pf_base_main_cf() {
	cat <<EOF
compatibility_level = 3.6
config_directory = $PF/etc
queue_directory = $PF/queue
data_directory = $PF/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test
mydomain = test
myorigin = \$myhostname
mydestination = localhost
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtpd_banner = \$myhostname ESMTP test
maillog_file = $PF/maillog
maillog_file_prefixes = $T
virtual_mailbox_domains = example.net
virtual_mailbox_base = $MAIL
virtual_mailbox_maps = static:box/
virtual_uid_maps = static:$(id -u postfix)
virtual_gid_maps = static:$(id -g postfix)
EOF
}

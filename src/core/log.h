/*
 * log: process-wide logging to stderr and/or syslog.
 * Levels have fixed meanings:
 *   debug    developer detail, off by default
 *   info     normal events (one line per message decision)
 *   warning  something odd that was handled (bad input, a fallback)
 *   error    a recoverable failure of ours or a dependency (DB busy, DNS down)
 *   fatal    bad configuration or resources: logs, then exits with status 1
 *   panic    our own bug (broken invariant): logs, then aborts
 * Never call fatal or panic on attacker-controlled input. Per-message lines
 * carry the queue id as a prefix ("ABC123: ..."). Secrets are never logged.
 */
#ifndef MAMORI_CORE_LOG_H
#define MAMORI_CORE_LOG_H

#include <stdbool.h>

enum log_level { LOG_LVL_DEBUG, LOG_LVL_INFO, LOG_LVL_WARNING, LOG_LVL_ERROR, LOG_LVL_FATAL, LOG_LVL_PANIC };

/* ident is kept by pointer; call once at start-up (and again on reload) */
void log_init(const char *ident, enum log_level min, bool to_stderr, bool to_syslog);
void log_set_level(enum log_level min);
/* "debug", "info", "warning", "error"; returns -1 on an unknown name */
int log_level_parse(const char *name, enum log_level *lvl_r);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void log_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif

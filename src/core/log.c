#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

static const char *log_ident = "mamori";
static enum log_level log_min = LOG_LVL_INFO;
static bool log_stderr = true;
static bool log_syslog = false;

void log_init(const char *ident, enum log_level min, bool to_stderr, bool to_syslog)
{
	if (log_syslog)
		closelog();
	log_ident = ident;
	log_min = min;
	log_stderr = to_stderr;
	log_syslog = to_syslog;
	if (to_syslog)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_MAIL);
}

void log_set_level(enum log_level min)
{
	log_min = min;
}

int log_level_parse(const char *name, enum log_level *lvl_r)
{
	static const char *names[] = { "debug", "info", "warning", "error" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strcmp(name, names[i]) == 0) {
			*lvl_r = (enum log_level)i;
			return 0;
		}
	return -1;
}

__attribute__((format(printf, 2, 0)))
static void log_v(enum log_level lvl, const char *fmt, va_list ap)
{
	static const char *tag[] = { "debug", "info", "warning", "error", "fatal", "panic" };
	static const int prio[] = { LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT, LOG_ALERT };
	if (lvl < log_min)
		return;
	char line[2048];
	vsnprintf(line, sizeof line, fmt, ap);
	/* keep one log line per event: control characters from input are shown escaped */
	for (char *p = line; *p; p++)
		if ((unsigned char)*p < 0x20 && *p != '\t')
			*p = '?';
	if (log_stderr)
		fprintf(stderr, "%s: %s: %s\n", log_ident, tag[lvl], line);
	if (log_syslog)
		syslog(prio[lvl], "%s: %s", tag[lvl], line);
}

#define LOG_FN(name, lvl)                        \
	void name(const char *fmt, ...)          \
	{                                        \
		va_list ap;                      \
		va_start(ap, fmt);               \
		log_v(lvl, fmt, ap);             \
		va_end(ap);                      \
	}
LOG_FN(log_debug, LOG_LVL_DEBUG)
LOG_FN(log_info, LOG_LVL_INFO)
LOG_FN(log_warning, LOG_LVL_WARNING)
LOG_FN(log_error, LOG_LVL_ERROR)

void log_fatal(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_LVL_FATAL, fmt, ap);
	va_end(ap);
	exit(1);
}

void log_panic(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_v(LOG_LVL_PANIC, fmt, ap);
	va_end(ap);
	abort();
}

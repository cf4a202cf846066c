#include "milter/settings.h"
#include "core/mem.h"
#include "policy/inbound.h"
#include "guard/submission.h"

#include <pthread.h>
#include <string.h>

static pthread_mutex_t settings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct settings *current;

struct settings *settings_new(struct mamori_config *cfg)
{
	struct settings *s = xcalloc(1, sizeof *s);
	s->cfg = *cfg;
	memset(cfg, 0, sizeof *cfg);
	s->refs = 1;
	return s;
}

struct settings *settings_build(struct mamori_config *cfg, char *err, size_t errlen)
{
	struct inbound_policy *pol = inbound_policy_new(cfg, err, errlen);
	if (pol == NULL)
		return NULL;
	struct sub_config *sub = sub_config_compile(cfg, err, errlen);
	if (sub == NULL) {
		inbound_policy_free(&pol);
		return NULL;
	}
	struct settings *s = settings_new(cfg);
	s->inbound = pol;
	s->sub = sub;
	return s;
}

static void settings_destroy(struct settings *s)
{
	inbound_policy_free(&s->inbound);
	sub_config_free(&s->sub);
	config_free(&s->cfg);
	xfree(s);
}

void settings_publish(struct settings *s)
{
	pthread_mutex_lock(&settings_lock);
	struct settings *old = current;
	current = s;
	pthread_mutex_unlock(&settings_lock);
	settings_release(old);
}

struct settings *settings_acquire(void)
{
	pthread_mutex_lock(&settings_lock);
	struct settings *s = current;
	if (s != NULL)
		s->refs++;
	pthread_mutex_unlock(&settings_lock);
	return s;
}

void settings_release(struct settings *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&settings_lock);
	unsigned left = --s->refs;
	pthread_mutex_unlock(&settings_lock);
	if (left == 0)
		settings_destroy(s);
}

void settings_shutdown(void)
{
	pthread_mutex_lock(&settings_lock);
	struct settings *old = current;
	current = NULL;
	pthread_mutex_unlock(&settings_lock);
	settings_release(old);
}

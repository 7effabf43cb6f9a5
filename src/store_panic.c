/*
 * store_panic: what the store does when Berkeley DB panics.
 *
 * After a panic (DB_EVENT_PANIC, or DB_RUNRECOVERY from any call) every
 * later call into the environment fails, so a process that lives on only
 * answers 500 until a person restarts it, and systemd's Restart=on-failure
 * never fires. The process therefore finishes nothing more: the first
 * thread that sees the panic logs one line and leaves with _exit() (no
 * atexit handlers, no store_close on a broken environment, no reply from
 * another worker), and whoever supervises it (systemd, scripts/stack)
 * starts it again, which runs normal recovery.
 */
#include <sys/stat.h>

#include <stdatomic.h>
#include <unistd.h>

#include "log.h"
#include "store_impl.h"

static atomic_int	panicked;

int
store_panicked(void)
{
	return atomic_load(&panicked);
}

void
store_panic(const char *where, int err)
{
	if (atomic_exchange(&panicked, 1) == 0) {
		log_error("%s: %s: Berkeley DB panic, exiting with status %d "
		    "so that the service restarts and recovers the store",
		    where, db_strerror(err), STORE_EXIT_PANIC);
		_exit(STORE_EXIT_PANIC);
	}
	/* Another thread is on its way out: this one answers nothing more. */
	for (;;)
		pause();
}

void
store_event(DB_ENV *env, u_int32_t event, void *info)
{
	(void)env;
	(void)info;
	if (event == DB_EVENT_PANIC)
		store_panic("DB_EVENT_PANIC", DB_RUNRECOVERY);
}

/*
 * The test hook (see store_cfg.test_panic_file): the file is removed
 * first, so that the restarted service does not panic again.
 */
void
store_test_panic_poll(struct store *s)
{
	int ret;

	if (s->test_panic_file == NULL || unlink(s->test_panic_file) != 0)
		return;
	log_warn("%s found: forcing a Berkeley DB panic (test hook)",
	    s->test_panic_file);
	if ((ret = s->env->set_flags(s->env, DB_PANIC_ENVIRONMENT, 1)) != 0)
		store_panic(__func__, ret);
}

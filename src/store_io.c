/*
 * store_io: Berkeley DB's file writes, wrapped so that a full disk is
 * recognised by its error code.
 *
 * On a full disk Berkeley DB does not always hand ENOSPC back to the
 * caller: some paths (a dirty page evicted to make room in the cache, a
 * log file being extended) report the errno only in an error message and
 * return a generic failure. Matching the message text would depend on the
 * C library's wording and on strerror(), which is not thread-safe. So the
 * store installs these wrappers around the system calls Berkeley DB
 * writes with (db_env_set_func_*, process-wide); each one notes in its
 * calling thread when the kernel answered ENOSPC, EDQUOT or EFBIG, and
 * store_run turns that into STORE_NOSPACE for the request that hit it.
 */
#include <sys/types.h>

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "store_impl.h"

__thread int	tls_nospace;

/* Notes a full disk in this thread if errno says so; keeps errno. */
static void
note(void)
{
	if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG)
		tls_nospace = 1;
}

/*
 * Berkeley DB takes anything but the full length from a replaced write
 * function as a failure and reads errno (its own loop over short writes
 * only runs around the real system call), so this writes everything or
 * fails with the errno of the call that could not go on; it writes at *off
 * with pwrite(), or at the file offset with write() when off is NULL.
 */
static ssize_t
write_all(int fd, const void *buf, size_t n, const off_t *off)
{
	size_t done = 0;
	ssize_t r;

	while (done < n) {
		if (off == NULL)
			r = write(fd, (const char *)buf + done, n - done);
		else
			r = pwrite(fd, (const char *)buf + done, n - done,
			    *off + (off_t)done);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			if (r == 0)
				errno = EIO;
			note();
			return -1;
		}
		done += (size_t)r;
	}
	return (ssize_t)done;
}

static ssize_t
io_write(int fd, const void *buf, size_t n)
{
	return write_all(fd, buf, n, NULL);
}

static ssize_t
io_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return write_all(fd, buf, n, &off);
}

static int
io_fsync(int fd)
{
	int r = fsync(fd);

	if (r != 0)
		note();
	return r;
}

static int
io_ftruncate(int fd, off_t len)
{
	int r = ftruncate(fd, len);

	if (r != 0)
		note();
	return r;
}

static int	io_ret;

static void
io_install_once(void)
{
	if ((io_ret = db_env_set_func_write(io_write)) == 0 &&
	    (io_ret = db_env_set_func_pwrite(io_pwrite)) == 0 &&
	    (io_ret = db_env_set_func_fsync(io_fsync)) == 0)
		io_ret = db_env_set_func_ftruncate(io_ftruncate);
}

int
store_io_install(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	pthread_once(&once, io_install_once);
	return io_ret;
}

// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

int split_cgroup2_root(char *buf, size_t len)
{
	struct mntent *m;
	FILE *f = setmntent("/proc/mounts", "r");
	int ret = -ENOENT;

	if (!f)
		return -errno;
	while ((m = getmntent(f))) {
		if (!strcmp(m->mnt_type, "cgroup2")) {
			snprintf(buf, len, "%s", m->mnt_dir);
			ret = 0;
			break;
		}
	}
	endmntent(f);
	return ret;
}

void split_run_path(char *path, size_t len, const char *pin_dir, const char *suffix)
{
	size_t off = (size_t)snprintf(path, len, "/run/split/"), sl = strlen(suffix);

	for (const char *p = pin_dir; *p && off + sl + 1 < len; p++)
		path[off++] = *p == '/' ? '_' : *p;
	snprintf(path + off, len - off, "%s", suffix);
}

static void lock_path(char *path, size_t len, const char *pin_dir)
{
	split_run_path(path, len, pin_dir, ".lock");
}

int split_daemon_lock(const char *pin_dir, struct split_err *err)
{
	char path[PATH_MAX], pid[32];
	int fd;

	if (mkdir("/run/split", 0755) && errno != EEXIST)
		return split_errc(err, errno, "creating /run/split: %s", strerror(errno));
	lock_path(path, sizeof(path), pin_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0)
		return split_errc(err, errno, "opening %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);

		pid[n > 0 ? n : 0] = 0;
		split_errc(err, EBUSY, "another splitd (pid %s) already serves %s",
			   n > 0 ? strtok(pid, "\n") : "?", pin_dir);
		close(fd);
		return -EBUSY;
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(pid, sizeof(pid), "%d\n", getpid());

		if (write(fd, pid, (size_t)n) != n)
			pr_debug("writing %s: %s\n", path, strerror(errno));
	}
	return fd;
}

/* Goes on past a failure; the first one is the result (and in err). */
static int unlink_dir(const char *dir, struct split_err *err)
{
	char path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d = opendir(dir);
	int ret = 0, r;

	if (!d)
		return errno == ENOENT ? 0 :
		       split_errc(err, errno, "opening %s: %s", dir, strerror(errno));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			r = unlink_dir(path, ret ? NULL : err);
		else if (unlink(path))
			r = split_errc(ret ? NULL : err, errno, "removing %s: %s", path,
				       strerror(errno));
		else
			r = 0;
		if (!ret)
			ret = r;
	}
	closedir(d);
	if (rmdir(dir)) {
		r = split_errc(ret ? NULL : err, errno, "removing %s: %s", dir,
			       strerror(errno));
		if (!ret)
			ret = r;
	}
	return ret;
}

int split_unload(const char *pin_dir, struct split_err *err)
{
	int r;

	char links[PATH_MAX];
	struct stat s;

	if (stat(pin_dir, &s)) {
		pr_info("nothing pinned at %s\n", pin_dir);
		split_lock_remove(pin_dir);
		return 0;
	}
	/* Links first: the datapath stops before its maps go. */
	snprintf(links, sizeof(links), "%s/links", pin_dir);
	if ((r = unlink_dir(links, err)) || (r = unlink_dir(pin_dir, err)))
		return r;
	pr_info("unloaded: removed %s\n", pin_dir);
	split_run_path(links, sizeof(links), pin_dir, ".once");
	unlink(links);	/* what --once applied there (once.c) */
	split_lock_remove(pin_dir);
	return 0;
}

void split_lock_remove(const char *pin_dir)
{
	char path[PATH_MAX];
	int fd;

	lock_path(path, sizeof(path), pin_dir);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return;
	/* Only when no splitd holds it. */
	if (!flock(fd, LOCK_EX | LOCK_NB))
		unlink(path);
	close(fd);
}

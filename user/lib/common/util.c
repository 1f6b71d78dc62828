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
	int ret = -1;

	if (!f)
		return -1;
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

static void lock_path(char *path, size_t len, const char *pin_dir)
{
	size_t off = (size_t)snprintf(path, len, "/run/split/");

	for (const char *p = pin_dir; *p && off < len - 6; p++)
		path[off++] = *p == '/' ? '_' : *p;
	snprintf(path + off, len - off, ".lock");
}

int split_daemon_lock(const char *pin_dir)
{
	char path[PATH_MAX], pid[32];
	int fd;

	if (mkdir("/run/split", 0755) && errno != EEXIST) {
		pr_warn("creating /run/split: %s\n", strerror(errno));
		return -1;
	}
	lock_path(path, sizeof(path), pin_dir);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		pr_warn("opening %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		ssize_t n = read(fd, pid, sizeof(pid) - 1);

		pid[n > 0 ? n : 0] = 0;
		pr_warn("another splitd (pid %s) already serves %s\n",
			n > 0 ? strtok(pid, "\n") : "?", pin_dir);
		close(fd);
		return -1;
	}
	if (ftruncate(fd, 0) == 0) {
		int n = snprintf(pid, sizeof(pid), "%d\n", getpid());

		if (write(fd, pid, (size_t)n) != n)
			pr_debug("writing %s: %s\n", path, strerror(errno));
	}
	return fd;
}

static int unlink_dir(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *de;
	DIR *d = opendir(dir);
	int ret = 0;

	if (!d)
		return errno == ENOENT ? 0 : -1;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (de->d_type == DT_DIR)
			ret |= unlink_dir(path);
		else if (unlink(path)) {
			pr_warn("removing %s: %s\n", path, strerror(errno));
			ret = -1;
		}
	}
	closedir(d);
	if (rmdir(dir)) {
		pr_warn("removing %s: %s\n", dir, strerror(errno));
		ret = -1;
	}
	return ret;
}

int split_unload(const char *pin_dir)
{
	char links[PATH_MAX];
	struct stat s;

	if (stat(pin_dir, &s)) {
		pr_info("nothing pinned at %s\n", pin_dir);
		split_lock_remove(pin_dir);
		return 0;
	}
	/* Links first: the datapath stops before its maps go. */
	snprintf(links, sizeof(links), "%s/links", pin_dir);
	if (unlink_dir(links) || unlink_dir(pin_dir))
		return -1;
	pr_info("unloaded: removed %s\n", pin_dir);
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

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* splitctl.h - what the command files of splitctl share (splitctl.c). */
#ifndef SPLITCTL_H
#define SPLITCTL_H

#include <stdio.h>

#include "state.h"

struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args;
	const char *summary;
	const char *help;
};

extern const char *pin_dir;

const struct cmd *find_cmd(const char *name);
void cmd_usage(const struct cmd *c, FILE *f);
/* Open the pinned state; prints the error. 0 or -1. */
int open_state(struct split_state *st);
/* After a change: wait until splitd's L7 proxy follows it. */
void wait_l7(struct split_state *st);

/* rollout.c */
int cmd_rollout(int argc, char **argv);
extern const char cmd_rollout_help[];

#endif

/*
 * main.c: the `sematic` command. It reads the sub-command, dispatches to
 * its handler and turns the result into an exit status: 0 on success, 1
 * when the command failed, 2 on a usage error (as git and click do).
 *
 * Sub-commands are rows of `commands` below; each prints its own output.
 * Library code never prints (STYLE 24): this file decides what the user sees.
 */
#include <stdio.h>
#include <string.h>

#include "util/banned.h"

#ifndef SM_VERSION
#error "SM_VERSION must be set by the build (src/cli/meson.build)"
#endif

/* The Sematic API level we are compatible with (API.md "Versions"). */
#define SM_API_VERSION "0.41.0"

struct command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
};

static int cmd_version(int argc, char **argv);
static int cmd_help(int argc, char **argv);

static const struct command commands[] = {
    {"help", "show this list of commands", cmd_help},
    {"version", "print the sematic release and the Sematic API level it implements", cmd_version},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out, "usage: sematic <command> [<args>]\n"
                 "       sematic --help | -h\n\n"
                 "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

static int cmd_help(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    usage(stdout);
    return 0;
}

static int cmd_version(int argc, char **argv)
{
    if (argc > 1) {
        fprintf(stderr, "sematic: 'version' takes no arguments, got '%s'\n", argv[1]);
        return 2;
    }
    printf("sematic %s (Sematic API %s)\n", SM_VERSION, SM_API_VERSION);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "sematic: unknown command '%s'; run 'sematic --help' for the list\n", argv[1]);
    return 2;
}

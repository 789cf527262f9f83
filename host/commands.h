/* The subcommands of bin/kedit; each parses its own arguments and returns the process exit status. */
#ifndef KEDIT_COMMANDS_H
#define KEDIT_COMMANDS_H

int cmd_run(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_table(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_mqd(int argc, char **argv);
int cmd_verify(int argc, char **argv);

#endif

/*
 * cli_runner.c: run the halqa binary for end-to-end tests (cli_runner.h).
 *
 * Each run forks, points stdin at a file holding the input (so a large
 * input cannot deadlock against a child that has not started reading),
 * stdout and stderr at files under the temp root, puts the child in a
 * session of its own (no controlling terminal: a passphrase prompt fails
 * rather than hangs) and has it killed if the test dies first.
 */
#define _GNU_SOURCE /* mkdtemp, prctl */
#include "support/cli_runner.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "support/relay_client.h"

int cli_runner_init(struct cli_runner *r)
{
	const char *dir = getenv("HALQA_BIN_DIR");

	memset(r, 0, sizeof *r);
	if (dir == NULL) {
		fprintf(stderr, "cli_runner: HALQA_BIN_DIR is not set\n");
		return -1;
	}
	snprintf(r->bin, sizeof r->bin, "%s/halqa", dir);
	if (access(r->bin, X_OK) != 0) {
		fprintf(stderr, "cli_runner: no executable %s\n", r->bin);
		return -1;
	}
	snprintf(r->root, sizeof r->root, "/tmp/halqa-cli-XXXXXX");
	if (mkdtemp(r->root) == NULL) {
		perror("cli_runner: mkdtemp");
		return -1;
	}
	return 0;
}

static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	char child[1024];

	if (d == NULL) {
		unlink(path);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) {
			continue;
		}
		snprintf(child, sizeof child, "%s/%s", path, de->d_name);
		remove_tree(child);
	}
	closedir(d);
	rmdir(path);
}

void cli_runner_cleanup(struct cli_runner *r)
{
	if (r->root[0] != '\0') {
		remove_tree(r->root);
	}
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

void cli_runner_home(const struct cli_runner *r, const char *name, char *out, size_t out_len)
{
	snprintf(out, out_len, "%s/%s", r->root, name);
}

/* slurp reads a whole capture file (bounded) into a malloc'd string. */
static char *slurp(const char *path, size_t *out_len)
{
	FILE *f = fopen(path, "rb");
	char *buf = malloc(CLI_RUNNER_MAX_OUTPUT + 1);
	size_t n = 0;

	*out_len = 0;
	if (buf == NULL) {
		if (f != NULL) {
			fclose(f);
		}
		return NULL;
	}
	if (f != NULL) {
		n = fread(buf, 1, CLI_RUNNER_MAX_OUTPUT, f);
		fclose(f);
	}
	buf[n] = '\0';
	*out_len = n;
	return buf;
}

static pid_t spawn(struct cli_runner *r, struct cli_job *job, const char *who, const char *pass,
                   const char *input, size_t input_len, va_list ap)
{
	char *argv[CLI_RUNNER_MAX_ARGS + 4], home[300], in_path[320];
	int argc = 0, in_fd;
	unsigned n = ++r->serial;
	pid_t pid;

	argv[argc++] = r->bin;
	if (who != NULL) {
		cli_runner_home(r, who, home, sizeof home);
		argv[argc++] = (char *)"--home";
		argv[argc++] = home;
	}
	while (argc < CLI_RUNNER_MAX_ARGS && (argv[argc] = va_arg(ap, char *)) != NULL) {
		argc++;
	}
	argv[argc] = NULL;
	snprintf(job->out_path, sizeof job->out_path, "%s/run%u.out", r->root, n);
	snprintf(job->err_path, sizeof job->err_path, "%s/run%u.err", r->root, n);
	snprintf(in_path, sizeof in_path, "%s/run%u.in", r->root, n);
	in_fd = open(in_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (in_fd < 0) {
		return -1;
	}
	if (input != NULL && input_len > 0 &&
	    write(in_fd, input, input_len) != (ssize_t)input_len) {
		close(in_fd);
		return -1;
	}
	if (input == NULL) {
		close(in_fd);
		in_fd = open("/dev/null", O_RDONLY);
	} else {
		lseek(in_fd, 0, SEEK_SET);
	}
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int o = open(job->out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(job->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(in_fd, 0);
		dup2(o, 1);
		dup2(e, 2);
		if (pass != NULL) {
			setenv("HALQA_PASSPHRASE", pass, 1);
		} else {
			unsetenv("HALQA_PASSPHRASE");
		}
		unsetenv("HALQA_HOME");
		setenv("NO_COLOR", "1", 1);
		for (size_t i = 0; i < r->num_env; i++) {
			if (r->env[i].unset) {
				unsetenv(r->env[i].name);
			} else {
				setenv(r->env[i].name, r->env[i].value, 1);
			}
		}
		setsid();
		execv(r->bin, argv);
		_exit(127);
	}
	close(in_fd);
	return pid;
}

static int finish(struct cli_runner *r, struct cli_job *job)
{
	int status = -1;

	if (job->pid > 0) {
		while (waitpid(job->pid, &status, 0) < 0) {
		}
	}
	free(r->out);
	free(r->err);
	r->out = slurp(job->out_path, &r->out_len);
	r->err = slurp(job->err_path, &r->err_len);
	r->status = (job->pid > 0 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
	return r->status;
}

int cli_runner_vrun(struct cli_runner *r, const char *who, const char *pass, const char *input,
                    size_t input_len, va_list ap)
{
	struct cli_job job;

	memset(&job, 0, sizeof job);
	job.pid = spawn(r, &job, who, pass, input, input_len, ap);
	return finish(r, &job);
}

int cli_runner_run(struct cli_runner *r, const char *who, const char *pass, const char *input,
                   size_t input_len, ...)
{
	va_list ap;
	int st;

	va_start(ap, input_len);
	st = cli_runner_vrun(r, who, pass, input, input_len, ap);
	va_end(ap);
	return st;
}

void cli_runner_expect_at(const char *file, int line, const char *buf, const char *want)
{
	if (buf == NULL || strstr(buf, want) == NULL) {
		harness_fail(file, line, "output lacks \"%s\":\n%s", want, buf ? buf : "");
	}
}

int cli_runner_run_env(struct cli_runner *r, const char *name, const char *value, const char *who,
                       ...)
{
	va_list ap;
	char pass[64];
	int st;

	snprintf(pass, sizeof pass, "pw-%s", who);
	if (cli_runner_setenv(r, name, value) != 0) {
		return -1;
	}
	va_start(ap, who);
	st = cli_runner_vrun(r, who, pass, NULL, 0, ap);
	va_end(ap);
	return st;
}

int cli_runner_setenv(struct cli_runner *r, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < r->num_env && strcmp(r->env[i].name, name) != 0; i++) {
	}
	if (i == CLI_RUNNER_MAX_ENV || strlen(name) >= sizeof r->env[i].name ||
	    (value != NULL && strlen(value) >= sizeof r->env[i].value)) {
		return -1;
	}
	snprintf(r->env[i].name, sizeof r->env[i].name, "%s", name);
	snprintf(r->env[i].value, sizeof r->env[i].value, "%s", value != NULL ? value : "");
	r->env[i].unset = value == NULL;
	if (i == r->num_env) {
		r->num_env++;
	}
	return 0;
}

int cli_runner_start(struct cli_runner *r, struct cli_job *job, const char *who, const char *pass,
                     ...)
{
	va_list ap;

	memset(job, 0, sizeof *job);
	va_start(ap, pass);
	job->pid = spawn(r, job, who, pass, NULL, 0, ap);
	va_end(ap);
	return job->pid > 0 ? 0 : -1;
}

int cli_runner_finish(struct cli_runner *r, struct cli_job *job)
{
	return finish(r, job);
}

size_t cli_runner_count(const char *hay, const char *needle)
{
	size_t n = 0, len = strlen(needle);
	const char *p = hay;

	if (hay == NULL || len == 0) {
		return 0;
	}
	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += len;
	}
	return n;
}

int cli_runner_address(char *out, size_t out_len, const struct relay_test *t)
{
	const char *hash = strchr(t->address_line, '#');

	/* The endpoint the relay really listens on, with the key as halqad printed it. */
	if (hash == NULL) {
		return -1;
	}
	snprintf(out, out_len, "halqa-relay:%s%s", t->endpoint, hash);
	return 0;
}

static int step(struct cli_runner *r, int status, const char *what, const char *who)
{
	if (status != 0) {
		harness_fail(__FILE__, __LINE__, "%s (%s) exited %d:\n%s%s", what, who, status,
		             r->out ? r->out : "", r->err ? r->err : "");
		return -1;
	}
	return 0;
}

int cli_runner_profile(struct cli_runner *r, struct relay_test *t, const char *who,
                       const char *name)
{
	char pass[80], address[600], code[128];

	snprintf(pass, sizeof pass, "pw-%s", who);
	if (cli_runner_address(address, sizeof address, t) != 0 ||
	    relay_test_invite(t, 1, code, sizeof code) != HALQA_OK) {
		harness_fail(__FILE__, __LINE__, "no relay address or invite for %s", who);
		return -1;
	}
	if (step(r,
	         cli_runner_run(r, who, pass, NULL, 0, "init", "--name", name, "--kdf-profile",
	                        "test", (char *)NULL),
	         "init", who) != 0 ||
	    step(r, cli_runner_run(r, who, pass, NULL, 0, "relay", "set", address, (char *)NULL),
	         "relay set", who) != 0 ||
	    step(r,
	         cli_runner_run(r, who, pass, NULL, 0, "register", "--invite", code, (char *)NULL),
	         "register", who) != 0) {
		return -1;
	}
	return 0;
}

int cli_runner_card_in(struct cli_runner *r, char *out, size_t out_len)
{
	const char *p, *q;

	out[0] = '\0';
	p = r->out != NULL ? strstr(r->out, "\"card\":\"") : NULL;
	q = p != NULL ? strchr(p + 8, '"') : NULL;
	if (q == NULL || (size_t)(q - p - 8) >= out_len) {
		harness_fail(__FILE__, __LINE__, "no card in %s", r->out != NULL ? r->out : "");
		return -1;
	}
	memcpy(out, p + 8, (size_t)(q - p - 8));
	out[q - p - 8] = '\0';
	return 0;
}

int cli_runner_card(struct cli_runner *r, const char *who, char *out, size_t out_len)
{
	char pass[80];

	out[0] = '\0';
	snprintf(pass, sizeof pass, "pw-%s", who);
	if (step(r, cli_runner_run(r, who, pass, NULL, 0, "whoami", "--json", (char *)NULL),
	         "whoami", who) != 0) {
		return -1;
	}
	return cli_runner_card_in(r, out, out_len);
}

int cli_runner_introduce(struct cli_runner *r, const char *a, const char *b)
{
	char card_a[600], card_b[600], pass_a[80], pass_b[80];

	snprintf(pass_a, sizeof pass_a, "pw-%s", a);
	snprintf(pass_b, sizeof pass_b, "pw-%s", b);
	if (cli_runner_card(r, a, card_a, sizeof card_a) != 0 ||
	    cli_runner_card(r, b, card_b, sizeof card_b) != 0) {
		return -1;
	}
	if (step(r,
	         cli_runner_run(r, a, pass_a, NULL, 0, "contact", "add", b, card_b, (char *)NULL),
	         "contact add", a) != 0 ||
	    step(r,
	         cli_runner_run(r, b, pass_b, NULL, 0, "contact", "add", a, card_a, (char *)NULL),
	         "contact add", b) != 0) {
		return -1;
	}
	return 0;
}

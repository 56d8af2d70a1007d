// SPDX-License-Identifier: MIT
/* The shared device-program options (vpcie/cli.h), parsed as a program would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vpcie/cli.h>

/* Run getopt_long over argv as a device program with one option of its own
 * (-i FILE) does; returns 0, 2 (bad option/value) or 3 (unknown option). */
static int parse(struct vpcie_cli *cli, struct vpcie_dev_opts *opts, const char **image,
		 int argc, char **argv)
{
	static const struct option longopts[] = {
		VPCIE_CLI_LONGOPTS,
		{"image", required_argument, NULL, 'i'},
		{0},
	};
	int c;

	optind = 0; /* full reinitialisation (glibc) */
	opterr = 0;
	vpcie_dev_opts_defaults(opts);
	vpcie_cli_init(cli, "test");
	*image = NULL;
	while ((c = getopt_long(argc, argv, VPCIE_CLI_SHORTOPTS "i:", longopts, NULL)) != -1) {
		switch (vpcie_cli_option(cli, opts, c, optarg)) {
		case 1: continue;
		case -1: return 2;
		}
		if (c == 'i')
			*image = optarg;
		else
			return 3;
	}
	return vpcie_cli_finish(cli, argc - optind) ? 2 : 0;
}

static int parse_v(struct vpcie_cli *cli, struct vpcie_dev_opts *opts, const char **image,
		   char **argv)
{
	int argc = 0;

	while (argv[argc])
		argc++;
	return parse(cli, opts, image, argc, argv);
}

#define PARSE(...) parse_v(&cli, &opts, &image, (char *[]){"prog", __VA_ARGS__, NULL})

static void test_shared_options_apply(void **state)
{
	struct vpcie_cli cli;
	struct vpcie_dev_opts opts;
	const char *image;

	(void)state;
	assert_int_equal(PARSE("--socket", "/tmp/s", "-i", "disk", "--dma-messages", "--no-twin",
			       "--no-ring", "--max-xfer", "0x10000", "--msg-timeout", "250",
			       "--log", "warn"), 0);
	assert_string_equal(cli.socket, "/tmp/s");
	assert_int_equal(cli.fd, -1);
	assert_string_equal(image, "disk");
	assert_false(opts.dma_shm);
	assert_false(opts.offer_twin_socket);
	assert_false(opts.offer_ring);
	assert_int_equal(opts.max_data_xfer_size, 0x10000);
	assert_int_equal(opts.msg_timeout_ms, 250);
	assert_int_equal(opts.log_level, VPCIE_LOG_WARN);

	assert_int_equal(PARSE("--fd", "7", "-v"), 0);
	assert_null(cli.socket);
	assert_int_equal(cli.fd, 7);
	assert_int_equal(opts.log_level, VPCIE_LOG_DEBUG);
	assert_true(opts.dma_shm); /* defaults untouched */

	assert_int_equal(PARSE("-s", "x", "--trace", "t.bin"), 0);
	assert_string_equal(opts.trace_path, "t.bin");

	assert_int_equal(PARSE("-s", "/tmp/s", "--socket-path", "/tmp/t"), 0);
	assert_string_equal(cli.socket, "/tmp/t");
}

static void test_bad_values_refused(void **state)
{
	struct vpcie_cli cli;
	struct vpcie_dev_opts opts;
	const char *image;

	(void)state;
	/* Values that used to be silently read as 0 or defaulted. */
	assert_int_equal(PARSE("-s", "x", "--max-xfer", "12"), 2);
	assert_int_equal(PARSE("-s", "x", "--max-xfer", "1M"), 2);
	assert_int_equal(PARSE("-s", "x", "--max-xfer", "-4096"), 2);
	assert_int_equal(PARSE("-s", "x", "--max-xfer", "0x80000000"), 2);
	assert_int_equal(PARSE("-s", "x", "--msg-timeout", "0"), 2);
	assert_int_equal(PARSE("-s", "x", "--msg-timeout", "abc"), 2);
	assert_int_equal(PARSE("--fd", "three"), 2);
	assert_int_equal(PARSE("--fd", "-1"), 2);
	assert_int_equal(PARSE("-s", "x", "--log", "loud"), 2);
	assert_int_equal(PARSE("-s", "x", "--trace", ""), 2);
	/* What finish() requires. */
	assert_int_equal(PARSE("-i", "disk"), 2);                 /* no socket */
	assert_int_equal(PARSE("-s", "x", "--fd", "3"), 2);       /* both */
	assert_int_equal(PARSE("-s", "x", "stray"), 2);           /* operand */
	/* Not ours: left to the program. */
	assert_int_equal(PARSE("-s", "x", "--frobnicate"), 3);
}

/* --fault SPEC (repeatable, checked) and --fault-control reach the options. */
static void test_fault_options(void **state)
{
	struct vpcie_cli cli;
	struct vpcie_dev_opts opts;
	const char *image;

	(void)state;
	assert_int_equal(PARSE("--socket", "/tmp/s"), 0);
	assert_int_equal(opts.nfaults, 0);
	assert_false(opts.fault_control);
	assert_int_equal(PARSE("--socket", "/tmp/s", "--fault", "ur:region=0,op=read",
			       "--fault", "remove:after=3", "--fault-control"), 0);
	assert_int_equal(opts.nfaults, 2);
	assert_ptr_equal(opts.faults, cli.faults);
	assert_string_equal(opts.faults[0], "ur:region=0,op=read");
	assert_string_equal(opts.faults[1], "remove:after=3");
	assert_true(opts.fault_control);
	assert_int_equal(PARSE("--socket", "/tmp/s", "--fault", "ur:region=9"), 2);
	assert_int_equal(PARSE("--socket", "/tmp/s", "--fault", ""), 2);
	assert_int_equal(PARSE("--socket", "/tmp/s", "--fault"), 3); /* missing argument */

	char *argv[2 + 2 * (VPCIE_CLI_MAX_FAULTS + 1) + 1];
	int argc = 0;

	argv[argc++] = "prog";
	argv[argc++] = "--socket=/tmp/s";
	for (unsigned i = 0; i <= VPCIE_CLI_MAX_FAULTS; i++) {
		argv[argc++] = "--fault";
		argv[argc++] = "delay:us=1";
	}
	argv[argc] = NULL;
	assert_int_equal(parse(&cli, &opts, &image, argc, argv), 2); /* one too many */
	assert_int_equal(cli.nfaults, VPCIE_CLI_MAX_FAULTS);
}

/* Sizes and counts of program options (vpcie-ntb's --mw-size, --spads). */
static void test_parse_size(void **state)
{
	uint64_t v = 0;

	(void)state;
	assert_int_equal(vpcie_cli_parse_size("0", &v), 0);
	assert_true(v == 0);
	assert_int_equal(vpcie_cli_parse_size("4096", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(vpcie_cli_parse_size("0x1000", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(vpcie_cli_parse_size("8k", &v), 0);
	assert_true(v == 8192);
	assert_int_equal(vpcie_cli_parse_size("16M", &v), 0);
	assert_true(v == 16ull << 20);
	assert_int_equal(vpcie_cli_parse_size("1G", &v), 0);
	assert_true(v == 1ull << 30);
	assert_int_equal(vpcie_cli_parse_size("17179869183G", &v), 0); /* 2^64 - 2^30 */
	assert_true(v == 17179869183ull << 30);
	v = 7;
	assert_int_equal(vpcie_cli_parse_size("17179869184G", &v), -1); /* 2^64: overflows */
	assert_int_equal(vpcie_cli_parse_size("18446744073709551616", &v), -1);
	assert_int_equal(vpcie_cli_parse_size("", &v), -1);
	assert_int_equal(vpcie_cli_parse_size("-1", &v), -1);
	assert_int_equal(vpcie_cli_parse_size("+1", &v), -1);
	assert_int_equal(vpcie_cli_parse_size("1kk", &v), -1);
	assert_int_equal(vpcie_cli_parse_size("1T", &v), -1);
	assert_int_equal(vpcie_cli_parse_size("k", &v), -1);
	assert_int_equal(vpcie_cli_parse_size(NULL, &v), -1);
	assert_true(v == 7); /* untouched on failure */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shared_options_apply),
		cmocka_unit_test(test_bad_values_refused),
		cmocka_unit_test(test_fault_options),
		cmocka_unit_test(test_parse_size),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

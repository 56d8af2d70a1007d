/* SPDX-License-Identifier: MIT */
/* `vpcie trace`: convert transaction traces to a timeline, pcap or text. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmds.h"
#include "tool.h"
#include "trace_out.h"

#define TRACE_FILE_MAX (1ull << 32) /* refuse bigger inputs: 4 GiB */

static void usage(FILE *f)
{
	fputs("Usage: vpcie trace --perfetto|--pcap|--text [-o OUT] TRACE...\n"
	      "Convert transaction traces recorded with VPCIE_TRACE=FILE or --trace FILE\n"
	      "(device programs and vpcie commands) into one time-ordered output.\n"
	      "Traces of a device and of its host merge into one timeline.\n\n"
	      "  --perfetto       Chrome trace-event JSON (opens in Perfetto UI / chrome://tracing):\n"
	      "                   a track per BAR, config space, DMA and interrupts per process\n"
	      "  --pcap           pcap (LINKTYPE_USER0 = 147) of vfio-user-like records; decode\n"
	      "                   with tshark/Wireshark -X lua_script:tools/wireshark/vpcie.lua\n"
	      "  --text           one readable line per transaction\n"
	      "  -o, --output OUT write to OUT instead of stdout\n"
	      "  -h, --help       this help\n",
	      f);
}

/* The whole file, or NULL with a message. */
static uint8_t *slurp(const char *path, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	uint8_t *buf = NULL;
	size_t got = 0;

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "vpcie trace: %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > TRACE_FILE_MAX) {
		fprintf(stderr, "vpcie trace: %s: not a regular file of at most 4 GiB\n", path);
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		fprintf(stderr, "vpcie trace: %s: out of memory\n", path);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "vpcie trace: %s: %s\n", path,
				n < 0 ? strerror(errno) : "file shrank while reading");
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	*len = got;
out:
	if (fd >= 0)
		close(fd);
	return buf;
}

enum { OPT_PERFETTO = 0x1000, OPT_PCAP, OPT_TEXT };

int cmd_trace(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"perfetto", no_argument, NULL, OPT_PERFETTO},
		{"json", no_argument, NULL, OPT_PERFETTO},
		{"pcap", no_argument, NULL, OPT_PCAP},
		{"text", no_argument, NULL, OPT_TEXT},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{0},
	};
	struct vpcie_trace_set set = {0};
	const char *out = NULL;
	int fmt = 0, c, rc = TOOL_EXIT_FAIL;
	FILE *f = stdout;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_PERFETTO:
		case OPT_PCAP:
		case OPT_TEXT:
			if (fmt && fmt != c) {
				fprintf(stderr, "vpcie trace: choose one of --perfetto, --pcap, --text\n");
				return TOOL_EXIT_USAGE;
			}
			fmt = c;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return tool_bad_option("trace", argv);
		}
	}
	if (!fmt || optind >= argc) {
		fprintf(stderr, "vpcie trace: %s; see --help\n",
			!fmt ? "say --perfetto, --pcap or --text" : "no trace file given");
		return TOOL_EXIT_USAGE;
	}
	for (int i = optind; i < argc; i++) {
		char err[160];
		size_t len = 0;
		uint8_t *buf = slurp(argv[i], &len);
		int ret;

		if (!buf)
			goto done;
		ret = vpcie_trace_parse(&set, (unsigned)(i - optind), buf, len, err, sizeof(err));
		free(buf);
		if (ret) {
			fprintf(stderr, "vpcie trace: %s: %s\n", argv[i],
				ret == -EPROTO ? err : strerror(-ret));
			goto done;
		}
	}
	if (vpcie_trace_sort(&set)) {
		fprintf(stderr, "vpcie trace: out of memory\n");
		goto done;
	}
	if (out && !(f = fopen(out, "w"))) {
		fprintf(stderr, "vpcie trace: %s: %s\n", out, strerror(errno));
		f = stdout;
		goto done;
	}
	c = fmt == OPT_PERFETTO ? trace_write_json(f, &set)
	    : fmt == OPT_PCAP   ? trace_write_pcap(f, &set)
				: trace_write_text(f, &set);
	if (fflush(f) || ferror(f) || c) {
		fprintf(stderr, "vpcie trace: writing %s failed\n", out ? out : "stdout");
		goto done;
	}
	rc = 0;
done:
	if (f != stdout && fclose(f) && rc == 0) {
		fprintf(stderr, "vpcie trace: writing %s failed\n", out);
		rc = TOOL_EXIT_FAIL;
	}
	vpcie_trace_set_free(&set);
	return rc;
}

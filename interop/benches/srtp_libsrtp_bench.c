/*
 * libsrtp2 half of the ferrtc-srtp vs libsrtp2 benchmark (srtp_vs_libsrtp.rs
 * compiles and runs this file). Same method as the Rust half: batches of
 * BATCH distinct RTP packets; protect times protecting a batch of fresh
 * plaintexts in place, unprotect times unprotecting a batch protected beforehand
 * (untimed). Prints one line per case: "<profile id> <size> <op> <packets/s>",
 * the median over batches within the time budget.
 *
 * usage: srtp_libsrtp_bench <budget ms per case>
 */
#include <srtp2/srtp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 1024
#define MAX_BATCHES 4096
#define SSRC 0x12345678u

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static srtp_t session(int profile, int outbound) {
    static unsigned char key[64];
    srtp_policy_t policy;
    srtp_t s;
    memset(&policy, 0, sizeof policy);
    for (int i = 0; i < 64; i++) key[i] = (unsigned char)(i * 7 + 1);
    if (srtp_crypto_policy_set_from_profile_for_rtp(&policy.rtp, profile) ||
        srtp_crypto_policy_set_from_profile_for_rtcp(&policy.rtcp, profile)) {
        fprintf(stderr, "profile %d unsupported\n", profile);
        exit(2);
    }
    policy.ssrc.type = outbound ? ssrc_any_outbound : ssrc_any_inbound;
    policy.key = key;
    policy.window_size = 128;
    policy.allow_repeat_tx = 1;
    if (srtp_create(&s, &policy)) {
        fprintf(stderr, "srtp_create failed\n");
        exit(2);
    }
    return s;
}

static void fill(unsigned char *p, int size, unsigned seq) {
    memset(p, 0xab, size);
    p[0] = 0x80;
    p[1] = 96;
    p[2] = (seq >> 8) & 0xff;
    p[3] = seq & 0xff;
    memset(p + 4, 0, 4);
    p[8] = SSRC >> 24; p[9] = (SSRC >> 16) & 0xff; p[10] = (SSRC >> 8) & 0xff; p[11] = SSRC & 0xff;
}

static double run(int profile, int size, int unprotect, double budget) {
    static unsigned char bufs[BATCH][1500];
    static int lens[BATCH];
    static double rates[MAX_BATCHES];
    srtp_t tx = session(profile, 1), rx = session(profile, 0);
    unsigned seq = 0;
    int n = 0;
    double start = now_s();
    while ((now_s() - start < budget || n < 5) && n < MAX_BATCHES) {
        for (int i = 0; i < BATCH; i++) {
            fill(bufs[i], size, seq++ & 0xffff);
            lens[i] = size;
            if (unprotect && srtp_protect(tx, bufs[i], &lens[i])) exit(3);
        }
        double t0 = now_s();
        for (int i = 0; i < BATCH; i++) {
            int rc = unprotect ? srtp_unprotect(rx, bufs[i], &lens[i]) : srtp_protect(tx, bufs[i], &lens[i]);
            if (rc) { fprintf(stderr, "libsrtp error %d\n", rc); exit(3); }
        }
        rates[n++] = BATCH / (now_s() - t0);
    }
    srtp_dealloc(tx);
    srtp_dealloc(rx);
    qsort(rates, n, sizeof rates[0], cmp_double);
    return rates[n / 2];
}

int main(int argc, char **argv) {
    double budget = (argc > 1 ? atof(argv[1]) : 1000.0) / 1000.0;
    int profiles[] = {1, 2, 7, 8};
    int sizes[] = {200, 1200};
    if (srtp_init()) return 2;
    for (int p = 0; p < 4; p++)
        for (int s = 0; s < 2; s++)
            for (int u = 0; u < 2; u++)
                printf("%d %d %s %.0f\n", profiles[p], sizes[s], u ? "unprotect" : "protect",
                       run(profiles[p], sizes[s], u, budget));
    return 0;
}

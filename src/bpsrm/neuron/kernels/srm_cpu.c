/*
 * Fused CPU kernels of the iterative SRM (BP-SRM.md section 2) and its BP-SRM
 * backward (section 3), and of its hard-reset variant (reset="zero": section 2.1,
 * backward section 3.2). Loaded with ctypes by bpsrm/neuron/kernels/cpu.py; no Python API.
 * Each kernel takes one struct of arguments, bpsrm_args, mirrored field by field by
 * cpu.py's KernelArgs (bpsrm_args_size lets it check that the two agree).
 *
 * Layout: x, u, spikes, grads are [T, M] (M = neurons, contiguous). Neurons are
 * processed in blocks of at most BLOCK contiguous elements: the time loop runs
 * outside, the loop over the block inside, so it vectorises; the state of a block
 * (I, V, R, o[t-1]) stays in L1. Blocks are shared among OpenMP threads.
 *
 * Parameters repeat with period P along M (M = rows * P): element m uses index
 * m % P of each parameter array (length P) or the scalar (stride 0).
 * Parameter gradients are summed per element of the period into per-thread
 * buffers [threads, P]; the caller sums over threads and broadcast dimensions.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* 4 KiB of neurons per row per step (1024 floats, 512 doubles): long enough streams for the hardware
 * prefetcher (256 floats was measured 30% slower end to end on [16, 64, 4096]), small enough that a block's
 * state fits in L1/L2 and that the block arrays on a thread's stack stay under 80 KiB (musl gives 128 KiB). */
#define BLOCK_BYTES 4096

enum { SG_SIGMOID = 0, SG_ATAN = 1, SG_TRIANGLE = 2, SG_RECTANGLE = 3, SG_EXPONENTIAL = 4, SG_FAST_SIGMOID = 5 };

/* Surrogate ids: bpsrm.neuron.surrogate's kernel_id of each class; bpsrm_surrogate_name lets cpu.py check them. */
static const char *const SURROGATE_NAMES[] = {"sigmoid", "atan", "triangle", "rectangle", "exponential", "fast_sigmoid"};
#define SURROGATE_COUNT ((int)(sizeof SURROGATE_NAMES / sizeof SURROGATE_NAMES[0]))

/* The arguments of one call. Arrays are [T, M] (M neurons, contiguous) in the kernel's real type
 * (float for the _f32 kernels, double for _f64). Parameters: a scalar (stride 0) or P values repeating
 * along M (stride 1). Gradient buffers: [threads, P], zeroed by the caller, or NULL when not wanted. */
typedef struct bpsrm_args {
    const void *x;           /* input current; read by the backward only when a_s or a_m needs a gradient */
    void *u;                 /* membrane potential: written by the forward, read by the backward */
    void *spikes;            /* forward output */
    const void *grad_spikes; /* backward: gradient of the loss wrt the spikes, or NULL (zero) */
    const void *grad_u;      /* backward: gradient of the loss wrt u, or NULL (zero) */
    void *grad_x;            /* backward output */
    const void *a_s;         /* synaptic decay; NULL for the exp kernel (a_s = 0) */
    const void *a_m, *a_r, *theta, *theta_r;
    void *grad_a_s, *grad_a_m, *grad_a_r, *grad_theta, *grad_theta_r;
    long T, M, P;
    long s_a_s, s_a_m, s_a_r, s_theta, s_theta_r; /* strides: 0 (scalar) or 1 (P values) */
    double width;     /* the surrogate's width (a, w or k), rounded to the kernel's type */
    int surrogate;    /* one of SG_* */
    int detach_reset; /* nonzero: no gradient through the refractory response */
    int threads;      /* requested team size; <= 0: OpenMP's default */
    int check_finite; /* forward: nonzero returns BPSRM_NONFINITE when a membrane potential ends NaN or Inf */
    int reset;        /* BPSRM_RESET_SUBTRACT (section 2) or BPSRM_RESET_ZERO (section 2.1: a_r, theta_r unused) */
} bpsrm_args;

/* The reset modes: subtract the refractory response R, or restart V from 0 after a spike (no R; then
 * a_r and theta_r are not read, and their gradient buffers, if given, are left as the caller zeroed them). */
enum { BPSRM_RESET_SUBTRACT = 0, BPSRM_RESET_ZERO = 1 };

/* BPSRM_NONFINITE: some neuron's u at the last step is NaN or Inf. With the subtractive reset a NaN or Inf
 * in x (or an overflow) stays in that neuron's V to the end (a * NaN = NaN, a * Inf = Inf or NaN for the
 * decays a in [0, 1)), so this one check of the final state sees every non-finite input. With the hard
 * reset too: NaN never fires (NaN >= theta is false), so a_m (1 - 0) NaN = NaN stays; +Inf fires and the
 * next step's (a_m 0) Inf is NaN; -Inf never fires and stays -Inf (or NaN). */
enum { BPSRM_OK = 0, BPSRM_NO_MEMORY = -1, BPSRM_BAD_ARGUMENTS = -2, BPSRM_NONFINITE = -3 };

size_t bpsrm_args_size(void) { return sizeof(bpsrm_args); }

const char *bpsrm_surrogate_name(int id) { return id >= 0 && id < SURROGATE_COUNT ? SURROGATE_NAMES[id] : NULL; }

static int is_stride(long s) { return s == 0 || s == 1; }

/* A call's shapes are consistent (M whole rows of period P, strides 0 or 1) and its required arrays are given. */
static int valid_layout(const bpsrm_args *a) {
    return a->T >= 0 && a->M >= 0 && a->P > 0 && a->M % a->P == 0 && is_stride(a->s_a_s) && is_stride(a->s_a_m) &&
           is_stride(a->s_a_r) && is_stride(a->s_theta) && is_stride(a->s_theta_r) && a->u != NULL &&
           a->a_m != NULL && a->a_r != NULL && a->theta != NULL && a->theta_r != NULL &&
           (a->reset == BPSRM_RESET_SUBTRACT || a->reset == BPSRM_RESET_ZERO);
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(BPSRM_NO_CLONES)
#define MULTIVERSION __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MULTIVERSION
#endif

/* Below this many neuron-steps a call runs on the calling thread alone: waking the team costs more than
 * the work (a call on [4, 16, 1024] does about 50 us of work). */
#define PARALLEL_MIN_ELEMENTS 32768L

/* Threads for a call: as requested, but no more than there are blocks, and one for small calls. */
static int team_size(int requested, long blocks, long elements) {
#ifdef _OPENMP
    long n = requested > 0 ? requested : omp_get_max_threads();
    if (elements < PARALLEL_MIN_ELEMENTS) n = 1;
    if (n > blocks) n = blocks;
    return n < 1 ? 1 : (int)n;
#else
    (void)requested;
    (void)blocks;
    (void)elements;
    return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* Subnormal numbers (tiny surrogate values) slow every operation on them, in this kernel and in
 * the matrix products that later read its gradients. The backward's threads set flush-to-zero
 * and denormals-are-zero for the duration of the call only, and restore the caller's setting. */
#if defined(__SSE__) || defined(__x86_64__)
#include <xmmintrin.h>
static inline unsigned int flush_subnormals(void) {
    unsigned int csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u);
    return csr;
}
static inline void restore_subnormals(unsigned int csr) { _mm_setcsr(csr); }
#else
static inline unsigned int flush_subnormals(void) { return 0; }
static inline void restore_subnormals(unsigned int csr) { (void)csr; }
#endif

int bpsrm_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

/* exp without a library call, so that the loops calling it vectorise: x = n ln2 + r with
 * |r| <= ln2/2, e^r by its Taylor polynomial (degree 7 for float: error < 6e-9 relative;
 * degree 13 for double: < 1e-17), 2^n built in the exponent bits. Arguments are clamped to
 * the range where the result is a normal number. */
static inline float exp_f32(float arg) {
    float x = arg < -87.0f ? -87.0f : (arg > 88.0f ? 88.0f : arg);
    float n = floorf(x * 1.44269504088896341f + 0.5f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.66666667e-1f + r * (4.16666667e-2f + r * (8.33333333e-3f
              + r * (1.38888889e-3f + r * 1.98412698e-4f))))));
    int32_t bits = ((int32_t)n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline double exp_f64(double arg) {
    double x = arg < -708.0 ? -708.0 : (arg > 709.0 ? 709.0 : arg);
    double n = floor(x * 1.4426950408889634074 + 0.5);
    double r = x - n * 6.93147180369123816490e-01 - n * 1.90821492927058770002e-10;
    double p = 1.0 / 6227020800.0;
    p = 1.0 / 479001600.0 + r * p;
    p = 1.0 / 39916800.0 + r * p;
    p = 1.0 / 3628800.0 + r * p;
    p = 1.0 / 362880.0 + r * p;
    p = 1.0 / 40320.0 + r * p;
    p = 1.0 / 5040.0 + r * p;
    p = 1.0 / 720.0 + r * p;
    p = 1.0 / 120.0 + r * p;
    p = 1.0 / 24.0 + r * p;
    p = 1.0 / 6.0 + r * p;
    p = 0.5 + r * p;
    p = 1.0 + r * p;
    p = 1.0 + r * p;
    int64_t bits = ((int64_t)n + 1023) << 52;
    double scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

#define SURROGATE_LOOP(SGF)                                                                                    \
    _Pragma("omp simd") for (long j = 0; j < n; j++) out[j] = SGF(u[j] - th[j], w)

/* The backward over one block in the lean case (see bpsrm_backward): scalar parameters, no parameter
 * gradient, no gradient on u. The same operations as the general loop, in the same order. */
#define LEAN_BACKWARD_BLOCK(REAL, SGF)                                                                          \
    for (long t = T - 1; t >= 0; t--) {                                                                          \
        const REAL *ut = u + t * M + base;                                                                       \
        const REAL *got = g_o + t * M + base;                                                                    \
        REAL *gx = grad_x + t * M + base;                                                                        \
        _Pragma("omp simd")                                                                                      \
        for (long j = 0; j < n; j++) {                                                                           \
            REAL du = SGF(ut[j] - th0, width) * (got[j] + kr * dR[j]);                                           \
            REAL r = ar0 * dR[j] - du;                                                                           \
            REAL v = am0 * dV[j] + du;                                                                           \
            REAL i = as0 * dI[j] + v;                                                                            \
            dR[j] = r; dV[j] = v; dI[j] = i;                                                                     \
            gx[j] = i;                                                                                           \
        }                                                                                                        \
    }

/* Bounds of block w: its row of the period, its first element k0 in the row, its length n and its
 * offset base in [M]. */
#define BLOCK_BOUNDS(w, BLOCK)                                                                                   \
    long row = (w) / per_row, k0 = ((w) % per_row) * (BLOCK);                                                    \
    long n = P - k0 < (BLOCK) ? P - k0 : (BLOCK);                                                                \
    long base = row * P + k0

/* The forward over one block (BP-SRM.md section 2); AS .. THR are each neuron's parameters, a register
 * (one value for all) or an array element indexed by j. */
#define FORWARD_BLOCK(REAL, BLOCK, AS, AM, AR, TH, THR)                                                          \
    REAL I[BLOCK], V[BLOCK], R[BLOCK], O[BLOCK];                                                                 \
    for (long j = 0; j < n; j++) I[j] = V[j] = R[j] = O[j] = 0;                                                  \
    for (long t = 0; t < T; t++) {                                                                               \
        const REAL *xt = x + t * M + base;                                                                       \
        REAL *ut = u + t * M + base;                                                                             \
        REAL *ft = spikes_out + t * M + base;                                                                    \
        _Pragma("omp simd")                                                                                      \
        for (long j = 0; j < n; j++) {                                                                           \
            REAL i = (AS) * I[j] + xt[j];                                                                        \
            REAL v = (AM) * V[j] + i;                                                                            \
            REAL r = (AR) * R[j] + (THR) * O[j];                                                                 \
            REAL uu = v - r;                                                                                     \
            REAL fire = uu >= (TH) ? (REAL)1 : (REAL)0;                                                          \
            I[j] = i; V[j] = v; R[j] = r; O[j] = fire;                                                           \
            ut[j] = uu;                                                                                          \
            ft[j] = fire;                                                                                        \
        }                                                                                                        \
    }                                                                                                            \
    CHECK_LAST_STEP(REAL)

/* BPSRM_NONFINITE's check of a block's last step (see the enum): sets nonfinite when some u[T-1] is NaN or Inf. */
#define CHECK_LAST_STEP(REAL)                                                                                    \
    if (check && T > 0) {                                                                                        \
        /* v - v is 0 for every finite v and NaN for NaN and Inf. */                                             \
        const REAL *last = u + (T - 1) * M + base;                                                               \
        for (long j = 0; j < n; j++) nonfinite |= !(last[j] - last[j] == (REAL)0);                               \
    }

/* The hard-reset forward over one block (BP-SRM.md section 2.1): I[t] = a_s I[t-1] + x[t],
 * V[t] = a_m (1 - o[t-1]) V[t-1] + I[t], u[t] = V[t], o[t] = H(u[t] - theta); no R. AS, AM, TH as in
 * FORWARD_BLOCK. */
#define FORWARD_ZERO_BLOCK(REAL, BLOCK, AS, AM, TH)                                                              \
    REAL I[BLOCK], V[BLOCK], O[BLOCK];                                                                           \
    for (long j = 0; j < n; j++) I[j] = V[j] = O[j] = 0;                                                         \
    for (long t = 0; t < T; t++) {                                                                               \
        const REAL *xt = x + t * M + base;                                                                       \
        REAL *ut = u + t * M + base;                                                                             \
        REAL *ft = spikes_out + t * M + base;                                                                    \
        _Pragma("omp simd")                                                                                      \
        for (long j = 0; j < n; j++) {                                                                           \
            REAL i = (AS) * I[j] + xt[j];                                                                        \
            REAL v = (AM) * ((REAL)1 - O[j]) * V[j] + i;                                                         \
            REAL fire = v >= (TH) ? (REAL)1 : (REAL)0;                                                           \
            I[j] = i; V[j] = v; O[j] = fire;                                                                     \
            ut[j] = v;                                                                                           \
            ft[j] = fire;                                                                                        \
        }                                                                                                        \
    }                                                                                                            \
    CHECK_LAST_STEP(REAL)

/* The hard-reset backward over one block in the lean case (see backward_zero): scalar parameters, grad_x
 * only, no gradient on u; km = a_m, or 0 with detach_reset. The general loop's operations in its order:
 * do = g_o - a_m u dV', du = sg' do, dV = du + a_m (1 - o) dV', dI = a_s dI' + dV (primes: step t+1). */
#define LEAN_ZERO_BACKWARD_BLOCK(REAL, SGF)                                                                      \
    for (long t = T - 1; t >= 0; t--) {                                                                          \
        const REAL *ut = u + t * M + base;                                                                       \
        const REAL *got = g_o + t * M + base;                                                                    \
        REAL *gx = grad_x + t * M + base;                                                                        \
        _Pragma("omp simd")                                                                                      \
        for (long j = 0; j < n; j++) {                                                                           \
            REAL uu = ut[j];                                                                                     \
            REAL du = SGF(uu - th0, width) * (got[j] - km * uu * dV[j]);                                         \
            REAL keep = uu >= th0 ? (REAL)0 : (REAL)1;                                                           \
            REAL v = du + am0 * keep * dV[j];                                                                    \
            REAL i = as0 * dI[j] + v;                                                                            \
            dV[j] = v; dI[j] = i;                                                                                \
            gx[j] = i;                                                                                           \
        }                                                                                                        \
    }

/* The parameters of a call as the kernels' locals: pointers (a_s NULL: the exp kernel) and strides. */
#define UNPACK_PARAMS(REAL)                                                                                      \
    const REAL *a_s = (const REAL *)args->a_s, *a_m = (const REAL *)args->a_m;                                   \
    const REAL *a_r = (const REAL *)args->a_r, *theta = (const REAL *)args->theta;                               \
    const REAL *theta_r = (const REAL *)args->theta_r;                                                           \
    long s_as = args->s_a_s, s_am = args->s_a_m, s_ar = args->s_a_r, s_th = args->s_theta;                       \
    long s_thr = args->s_theta_r;                                                                                \
    int has_as = a_s != NULL

/* BODY(REAL, sg) with sg the derivative of surrogate `kind`: one instance of BODY per surrogate, so that each
   inner loop is specialised and vectorises. */
#define SURROGATE_DISPATCH(kind, BODY, REAL, SUF)                                                                \
    switch (kind) {                                                                                              \
    case SG_SIGMOID: BODY(REAL, sgd_sigmoid_##SUF); break;                                                       \
    case SG_ATAN: BODY(REAL, sgd_atan_##SUF); break;                                                             \
    case SG_TRIANGLE: BODY(REAL, sgd_triangle_##SUF); break;                                                     \
    case SG_RECTANGLE: BODY(REAL, sgd_rectangle_##SUF); break;                                                   \
    case SG_EXPONENTIAL: BODY(REAL, sgd_exponential_##SUF); break;                                               \
    default: BODY(REAL, sgd_fast_sigmoid_##SUF);                                                                 \
    }

#define SURROGATE_LOOP_OF(REAL, SGF) SURROGATE_LOOP(SGF)

#define DEFINE_KERNELS(REAL, SUF, EXP, FABS, BLOCK)                                                                     \
                                                                                                                 \
/* sg'(z), z = u - theta, of each built-in surrogate (bpsrm/neuron/surrogate.py), inlined into the loops. */     \
static inline REAL sgd_sigmoid_##SUF(REAL z, REAL w) {                                                           \
    REAL s = (REAL)1 / ((REAL)1 + EXP(-w * z));                                                                  \
    return w * s * ((REAL)1 - s);                                                                                \
}                                                                                                                \
static inline REAL sgd_atan_##SUF(REAL z, REAL w) {                                                              \
    REAL a = (REAL)M_PI * w * (REAL)0.5 * z;                                                                     \
    return w * (REAL)0.5 / ((REAL)1 + a * a);                                                                    \
}                                                                                                                \
static inline REAL sgd_triangle_##SUF(REAL z, REAL w) {                                                          \
    REAL a = (REAL)1 - FABS(z) / w;                                                                              \
    return (a > 0 ? a : (REAL)0) / w;                                                                            \
}                                                                                                                \
static inline REAL sgd_rectangle_##SUF(REAL z, REAL w) { return FABS(z) < w * (REAL)0.5 ? (REAL)1 / w : (REAL)0; } \
static inline REAL sgd_exponential_##SUF(REAL z, REAL w) { return EXP(-FABS(z) / w) / ((REAL)2 * w); }        \
static inline REAL sgd_fast_sigmoid_##SUF(REAL z, REAL w) {                                                      \
    REAL a = (REAL)1 + w * FABS(z);                                                                              \
    return (REAL)1 / (a * a);                                                                                    \
}                                                                                                                \
                                                                                                                 \
/* sg'(u - theta) over a block, one simple loop per surrogate so that each vectorises. */                      \
static inline void surrogate_block_##SUF(int kind, REAL w, const REAL *restrict u, const REAL *restrict th,      \
                                         REAL *restrict out, long n) {                                           \
    SURROGATE_DISPATCH(kind, SURROGATE_LOOP_OF, REAL, SUF);                                                      \
}                                                                                                                \
                                                                                                                 \
/* Fill a block-local parameter array from a scalar (stride 0) or a period array. */                            \
static inline void load_param_##SUF(REAL *dst, const REAL *src, long stride, long offset, long n) {              \
    if (stride == 0) {                                                                                           \
        for (long j = 0; j < n; j++) dst[j] = src[0];                                                            \
    } else {                                                                                                     \
        memcpy(dst, src + offset, (size_t)n * sizeof(REAL));                                                     \
    }                                                                                                            \
}                                                                                                                \
                                                                                                                 \
/* The hard-reset forward (BP-SRM.md section 2.1) of bpsrm_forward: x -> u (= V), spikes; no R, so a_r and       \
 * theta_r are not read. Same blocks, threads and finite check as the subtractive forward. */                    \
MULTIVERSION                                                                                                     \
static int forward_zero_##SUF(const bpsrm_args *args) {                                                          \
    const REAL *restrict x = (const REAL *)args->x;                                                              \
    REAL *restrict u = (REAL *)args->u;                                                                          \
    REAL *restrict spikes_out = (REAL *)args->spikes;                                                            \
    long T = args->T, M = args->M, P = args->P;                                                                  \
    UNPACK_PARAMS(REAL);                                                                                         \
    (void)a_r; (void)theta_r; (void)s_ar; (void)s_thr;                                                           \
    int threads = args->threads, check = args->check_finite, nonfinite = 0;                                      \
    long per_row = (P + BLOCK - 1) / BLOCK;                                                                      \
    long rows = M / P;                                                                                           \
    long work = rows * per_row;                                                                                  \
    if (s_as == 0 && s_am == 0 && s_th == 0) {                                                                   \
        /* Lean case: one value of each parameter, kept in registers. */                                         \
        REAL as0 = has_as ? a_s[0] : (REAL)0, am0 = a_m[0], th0 = theta[0];                                      \
        _Pragma("omp parallel for schedule(static) num_threads(team_size(threads, work, T * M)) reduction(|:nonfinite)") \
        for (long w = 0; w < work; w++) {                                                                        \
            BLOCK_BOUNDS(w, BLOCK);                                                                              \
            FORWARD_ZERO_BLOCK(REAL, BLOCK, as0, am0, th0);                                                      \
        }                                                                                                        \
        return nonfinite ? BPSRM_NONFINITE : BPSRM_OK;                                                           \
    }                                                                                                            \
    _Pragma("omp parallel for schedule(static) num_threads(team_size(threads, work, T * M)) reduction(|:nonfinite)") \
    for (long w = 0; w < work; w++) {                                                                            \
        BLOCK_BOUNDS(w, BLOCK);                                                                                  \
        REAL as[BLOCK], am[BLOCK], th[BLOCK];                                                                    \
        if (has_as) load_param_##SUF(as, a_s, s_as, k0, n);                                                      \
        else for (long j = 0; j < n; j++) as[j] = 0;                                                             \
        load_param_##SUF(am, a_m, s_am, k0, n);                                                                  \
        load_param_##SUF(th, theta, s_th, k0, n);                                                                \
        FORWARD_ZERO_BLOCK(REAL, BLOCK, as[j], am[j], th[j]);                                                    \
    }                                                                                                            \
    return nonfinite ? BPSRM_NONFINITE : BPSRM_OK;                                                               \
}                                                                                                                \
                                                                                                                 \
/* The hard-reset backward (BP-SRM.md section 3.2) of bpsrm_backward, t = T-1 .. 0, dV[T] = dI[T] = 0:           \
 * do[t] = g_o[t] - a_m V[t] dV[t+1] (second term dropped if detach_reset), du[t] = g_u[t] + sg' do[t],          \
 * dV[t] = du[t] + a_m (1 - o[t]) dV[t+1], dI[t] = a_s dI[t+1] + dV[t], grad_x[t] = dI[t]; the sums              \
 * dL/da_s = sum_t dI[t] I[t-1] (I recomputed from x), dL/da_m = sum_t dV[t] (1 - o[t-1]) V[t-1] and             \
 * dL/dtheta = -sum_t sg' do[t], with V = u and o = (u >= theta) read from the saved u (no recomputation).       \
 * a_r and theta_r have no gradient: their buffers, if given, are not written. */                                \
MULTIVERSION                                                                                                     \
static int backward_zero_##SUF(const bpsrm_args *args) {                                                         \
    const REAL *restrict x = (const REAL *)args->x;                                                              \
    const REAL *restrict u = (const REAL *)args->u;                                                              \
    const REAL *restrict g_o = (const REAL *)args->grad_spikes;                                                  \
    const REAL *restrict g_u = (const REAL *)args->grad_u;                                                       \
    REAL *restrict grad_x = (REAL *)args->grad_x;                                                                \
    long T = args->T, M = args->M, P = args->P;                                                                  \
    UNPACK_PARAMS(REAL);                                                                                         \
    (void)a_r; (void)theta_r; (void)s_ar; (void)s_thr;                                                           \
    int kind = args->surrogate, detach_reset = args->detach_reset, threads = args->threads;                      \
    REAL width = (REAL)args->width;                                                                              \
    REAL *grad_as = (REAL *)args->grad_a_s, *grad_am = (REAL *)args->grad_a_m;                                   \
    REAL *grad_th = (REAL *)args->grad_theta;                                                                    \
    long per_row = (P + BLOCK - 1) / BLOCK;                                                                      \
    long rows = M / P;                                                                                           \
    long work = rows * per_row;                                                                                  \
    int failed = 0;                                                                                              \
    if (s_as == 0 && s_am == 0 && s_th == 0 && grad_as == NULL && grad_am == NULL && grad_th == NULL &&          \
        g_u == NULL && g_o != NULL) {                                                                            \
        /* Lean case (training with fixed parameters): no history to recompute, no reductions. */                \
        REAL as0 = has_as ? a_s[0] : (REAL)0, am0 = a_m[0], th0 = theta[0];                                      \
        REAL km = detach_reset ? (REAL)0 : am0;                                                                  \
        _Pragma("omp parallel num_threads(team_size(threads, work, T * M))")                                     \
        {                                                                                                        \
            unsigned int csr = flush_subnormals();                                                               \
            _Pragma("omp for schedule(static)")                                                                  \
            for (long w = 0; w < work; w++) {                                                                    \
                BLOCK_BOUNDS(w, BLOCK);                                                                          \
                REAL dI[BLOCK], dV[BLOCK];                                                                       \
                for (long j = 0; j < n; j++) dI[j] = dV[j] = 0;                                                  \
                SURROGATE_DISPATCH(kind, LEAN_ZERO_BACKWARD_BLOCK, REAL, SUF);                                   \
            }                                                                                                    \
            restore_subnormals(csr);                                                                             \
        }                                                                                                        \
        return BPSRM_OK;                                                                                         \
    }                                                                                                            \
    _Pragma("omp parallel num_threads(team_size(threads, work, T * M))")                                         \
    {                                                                                                            \
        unsigned int csr = flush_subnormals();                                                                   \
        int tid = thread_id();                                                                                   \
        REAL *hI = NULL;                                                                                         \
        if (grad_as != NULL) {                                                                                   \
            hI = (REAL *)malloc(sizeof(REAL) * (size_t)T * BLOCK);                                               \
            if (hI == NULL) {                                                                                    \
                _Pragma("omp atomic write")                                                                      \
                failed = 1;                                                                                      \
            }                                                                                                    \
        }                                                                                                        \
        _Pragma("omp for schedule(static)")                                                                      \
        for (long w = 0; w < work; w++) {                                                                        \
            if (failed) continue;                                                                                \
            BLOCK_BOUNDS(w, BLOCK);                                                                              \
            REAL as[BLOCK], am[BLOCK], th[BLOCK];                                                                \
            REAL dI[BLOCK], dV[BLOCK], sgv[BLOCK], zero[BLOCK];                                                  \
            REAL gas[BLOCK], gam[BLOCK], gth[BLOCK];                                                             \
            if (has_as) load_param_##SUF(as, a_s, s_as, k0, n);                                                  \
            else for (long j = 0; j < n; j++) as[j] = 0;                                                         \
            load_param_##SUF(am, a_m, s_am, k0, n);                                                              \
            load_param_##SUF(th, theta, s_th, k0, n);                                                            \
            for (long j = 0; j < n; j++) dI[j] = dV[j] = zero[j] = gas[j] = gam[j] = gth[j] = 0;                 \
            if (hI != NULL) {                                                                                    \
                /* Recompute I from x with the forward's operations. */                                          \
                REAL I[BLOCK];                                                                                   \
                for (long j = 0; j < n; j++) I[j] = 0;                                                           \
                for (long t = 0; t < T; t++) {                                                                   \
                    const REAL *xt = x + t * M + base;                                                           \
                    _Pragma("omp simd")                                                                          \
                    for (long j = 0; j < n; j++) {                                                               \
                        REAL i = as[j] * I[j] + xt[j];                                                           \
                        I[j] = i;                                                                                \
                        hI[t * BLOCK + j] = i;                                                                   \
                    }                                                                                            \
                }                                                                                                \
            }                                                                                                    \
            REAL reset = detach_reset ? (REAL)0 : (REAL)1;                                                       \
            for (long t = T - 1; t >= 0; t--) {                                                                  \
                const REAL *ut = u + t * M + base;                                                               \
                const REAL *got = g_o ? g_o + t * M + base : zero;                                               \
                const REAL *gut = g_u ? g_u + t * M + base : zero;                                               \
                /* V[t-1] = u[t-1] and o[t-1] = (u[t-1] >= theta); none before t = 0 (zeros, masked). */         \
                const REAL *uprev = t > 0 ? u + (t - 1) * M + base : zero;                                       \
                REAL has_prev = t > 0 ? (REAL)1 : (REAL)0;                                                       \
                REAL *gx = grad_x + t * M + base;                                                                \
                surrogate_block_##SUF(kind, width, ut, th, sgv, n);                                              \
                _Pragma("omp simd")                                                                              \
                for (long j = 0; j < n; j++) {                                                                   \
                    REAL d_o = got[j] - reset * am[j] * ut[j] * dV[j];                                           \
                    REAL sgdo = sgv[j] * d_o;                                                                    \
                    REAL du = gut[j] + sgdo;                                                                     \
                    REAL keep = ut[j] >= th[j] ? (REAL)0 : (REAL)1;                                              \
                    REAL v = du + am[j] * keep * dV[j];                                                          \
                    REAL i = as[j] * dI[j] + v;                                                                  \
                    dV[j] = v; dI[j] = i;                                                                        \
                    gx[j] = i;                                                                                   \
                    gth[j] -= sgdo;                                                                              \
                    REAL keep_prev = (uprev[j] >= th[j] ? (REAL)0 : (REAL)1) * has_prev;                         \
                    gam[j] += v * keep_prev * uprev[j];                                                          \
                }                                                                                                \
                if (t > 0 && hI != NULL) {                                                                       \
                    const REAL *pI = hI + (t - 1) * BLOCK;                                                       \
                    _Pragma("omp simd")                                                                          \
                    for (long j = 0; j < n; j++) gas[j] += dI[j] * pI[j];                                        \
                }                                                                                                \
            }                                                                                                    \
            long off = (long)tid * P + k0;                                                                       \
            for (long j = 0; j < n; j++) {                                                                       \
                if (grad_as) grad_as[off + j] += gas[j];                                                         \
                if (grad_am) grad_am[off + j] += gam[j];                                                         \
                if (grad_th) grad_th[off + j] += gth[j];                                                         \
            }                                                                                                    \
        }                                                                                                        \
        free(hI);                                                                                                \
        restore_subnormals(csr);                                                                                 \
    }                                                                                                            \
    return failed ? BPSRM_NO_MEMORY : BPSRM_OK;                                                                  \
}                                                                                                                \
                                                                                                                 \
/* The forward (BP-SRM.md section 2; section 2.1 with reset = BPSRM_RESET_ZERO, see forward_zero): x -> u,       \
 * spikes. Returns BPSRM_OK, BPSRM_NONFINITE or BAD_ARGUMENTS. */                                                \
MULTIVERSION                                                                                                     \
int bpsrm_forward_##SUF(const bpsrm_args *args) {                                                               \
    if (!valid_layout(args) || args->x == NULL || args->spikes == NULL) return BPSRM_BAD_ARGUMENTS;              \
    if (args->reset == BPSRM_RESET_ZERO) return forward_zero_##SUF(args);                                        \
    const REAL *restrict x = (const REAL *)args->x;                                                              \
    REAL *restrict u = (REAL *)args->u;                                                                          \
    REAL *restrict spikes_out = (REAL *)args->spikes;                                                            \
    long T = args->T, M = args->M, P = args->P;                                                                  \
    UNPACK_PARAMS(REAL);                                                                                         \
    int threads = args->threads, check = args->check_finite, nonfinite = 0;                                      \
    long per_row = (P + BLOCK - 1) / BLOCK;                                                                      \
    long rows = M / P;                                                                                           \
    long work = rows * per_row;                                                                                  \
    if (s_as == 0 && s_am == 0 && s_ar == 0 && s_th == 0 && s_thr == 0) {                                        \
        /* Lean case: one value of each parameter, kept in registers (no per-block parameter arrays). */         \
        REAL as0 = has_as ? a_s[0] : (REAL)0, am0 = a_m[0], ar0 = a_r[0], th0 = theta[0], thr0 = theta_r[0];     \
        _Pragma("omp parallel for schedule(static) num_threads(team_size(threads, work, T * M)) reduction(|:nonfinite)") \
        for (long w = 0; w < work; w++) {                                                                        \
            BLOCK_BOUNDS(w, BLOCK);                                                                              \
            FORWARD_BLOCK(REAL, BLOCK, as0, am0, ar0, th0, thr0);                                                \
        }                                                                                                        \
        return nonfinite ? BPSRM_NONFINITE : BPSRM_OK;                                                           \
    }                                                                                                            \
    _Pragma("omp parallel for schedule(static) num_threads(team_size(threads, work, T * M)) reduction(|:nonfinite)") \
    for (long w = 0; w < work; w++) {                                                                            \
        BLOCK_BOUNDS(w, BLOCK);                                                                                  \
        REAL as[BLOCK], am[BLOCK], ar[BLOCK], th[BLOCK], thr[BLOCK];                                             \
        if (has_as) load_param_##SUF(as, a_s, s_as, k0, n);                                                      \
        else for (long j = 0; j < n; j++) as[j] = 0;                                                             \
        load_param_##SUF(am, a_m, s_am, k0, n);                                                                  \
        load_param_##SUF(ar, a_r, s_ar, k0, n);                                                                  \
        load_param_##SUF(th, theta, s_th, k0, n);                                                                \
        load_param_##SUF(thr, theta_r, s_thr, k0, n);                                                            \
        FORWARD_BLOCK(REAL, BLOCK, as[j], am[j], ar[j], th[j], thr[j]);                                          \
    }                                                                                                            \
    return nonfinite ? BPSRM_NONFINITE : BPSRM_OK;                                                               \
}                                                                                                                \
                                                                                                                 \
/* The BP-SRM backward (section 3; section 3.2 with reset = BPSRM_RESET_ZERO, see backward_zero): grad_x and     \
 * the parameter gradients wanted (grad_* not NULL; x is needed for those of a_s and a_m, or of a_s alone with   \
 * the hard reset). Returns BPSRM_OK, BPSRM_NO_MEMORY or BPSRM_BAD_ARGUMENTS. */                                 \
MULTIVERSION                                                                                                     \
int bpsrm_backward_##SUF(const bpsrm_args *args) {                                                              \
    if (!valid_layout(args) || args->grad_x == NULL || args->surrogate < 0 || args->surrogate >= SURROGATE_COUNT \
        || ((args->grad_a_s != NULL || (args->grad_a_m != NULL && args->reset == BPSRM_RESET_SUBTRACT))          \
            && args->x == NULL))                                                                                 \
        return BPSRM_BAD_ARGUMENTS;                                                                              \
    if (args->reset == BPSRM_RESET_ZERO) return backward_zero_##SUF(args);                                       \
    const REAL *restrict x = (const REAL *)args->x;                                                              \
    const REAL *restrict u = (const REAL *)args->u;                                                              \
    const REAL *restrict g_o = (const REAL *)args->grad_spikes;                                                  \
    const REAL *restrict g_u = (const REAL *)args->grad_u;                                                       \
    REAL *restrict grad_x = (REAL *)args->grad_x;                                                                \
    long T = args->T, M = args->M, P = args->P;                                                                  \
    UNPACK_PARAMS(REAL);                                                                                         \
    int kind = args->surrogate, detach_reset = args->detach_reset, threads = args->threads;                      \
    REAL width = (REAL)args->width;                                                                              \
    REAL *grad_as = (REAL *)args->grad_a_s, *grad_am = (REAL *)args->grad_a_m;                                   \
    REAL *grad_ar = (REAL *)args->grad_a_r, *grad_th = (REAL *)args->grad_theta;                                 \
    REAL *grad_thr = (REAL *)args->grad_theta_r;                                                                 \
    long per_row = (P + BLOCK - 1) / BLOCK;                                                                      \
    long rows = M / P;                                                                                           \
    long work = rows * per_row;                                                                                  \
    int need_psp = grad_as != NULL || grad_am != NULL;                                                           \
    int need_r = grad_ar != NULL;                                                                                \
    int failed = 0;                                                                                              \
    if (s_as == 0 && s_am == 0 && s_ar == 0 && s_th == 0 && s_thr == 0 && !need_psp && !need_r &&                \
        grad_th == NULL && grad_thr == NULL && g_u == NULL && g_o != NULL) {                                     \
        /* Lean case (training with fixed parameters): no history to recompute, no reductions. */               \
        REAL as0 = has_as ? a_s[0] : (REAL)0, am0 = a_m[0], ar0 = a_r[0], th0 = theta[0];                        \
        REAL kr = detach_reset ? (REAL)0 : theta_r[0];                                                           \
        _Pragma("omp parallel num_threads(team_size(threads, work, T * M))")                                     \
        {                                                                                                        \
            unsigned int csr = flush_subnormals();                                                               \
            _Pragma("omp for schedule(static)")                                                                  \
            for (long w = 0; w < work; w++) {                                                                    \
                BLOCK_BOUNDS(w, BLOCK);                                                                          \
                REAL dI[BLOCK], dV[BLOCK], dR[BLOCK];                                                            \
                for (long j = 0; j < n; j++) dI[j] = dV[j] = dR[j] = 0;                                          \
                SURROGATE_DISPATCH(kind, LEAN_BACKWARD_BLOCK, REAL, SUF);                                        \
            }                                                                                                    \
            restore_subnormals(csr);                                                                             \
        }                                                                                                        \
        return BPSRM_OK;                                                                                         \
    }                                                                                                            \
    _Pragma("omp parallel num_threads(team_size(threads, work, T * M))")                                         \
    {                                                                                                            \
        unsigned int csr = flush_subnormals();                                                                   \
        int tid = thread_id();                                                                                   \
        REAL *hist = NULL;                                                                                       \
        if (need_psp || need_r) {                                                                                \
            hist = (REAL *)malloc(sizeof(REAL) * (size_t)T * BLOCK * 3);                                         \
            if (hist == NULL) {                                                                                  \
                _Pragma("omp atomic write")                                                                      \
                failed = 1;                                                                                      \
            }                                                                                                    \
        }                                                                                                        \
        _Pragma("omp for schedule(static)")                                                                      \
        for (long w = 0; w < work; w++) {                                                                        \
            if (failed) continue;                                                                                \
            BLOCK_BOUNDS(w, BLOCK);                                                                              \
            REAL as[BLOCK], am[BLOCK], ar[BLOCK], th[BLOCK], thr[BLOCK];                                         \
            REAL dI[BLOCK], dV[BLOCK], dR[BLOCK], sgv[BLOCK], zero[BLOCK];                                       \
            REAL gas[BLOCK], gam[BLOCK], gar[BLOCK], gth[BLOCK], gthr[BLOCK];                                    \
            if (has_as) load_param_##SUF(as, a_s, s_as, k0, n);                                                  \
            else for (long j = 0; j < n; j++) as[j] = 0;                                                         \
            load_param_##SUF(am, a_m, s_am, k0, n);                                                              \
            load_param_##SUF(ar, a_r, s_ar, k0, n);                                                              \
            load_param_##SUF(th, theta, s_th, k0, n);                                                            \
            load_param_##SUF(thr, theta_r, s_thr, k0, n);                                                        \
            for (long j = 0; j < n; j++) {                                                                       \
                dI[j] = dV[j] = dR[j] = zero[j] = 0;                                                             \
                gas[j] = gam[j] = gar[j] = gth[j] = gthr[j] = 0;                                                 \
            }                                                                                                    \
            REAL *hI = hist, *hV = hist ? hist + (size_t)T * BLOCK : NULL;                                       \
            REAL *hR = hist ? hist + (size_t)2 * T * BLOCK : NULL;                                               \
            if (hist != NULL) {                                                                                  \
                /* Recompute I, V (from x) and R (from u >= theta) with the forward's operations. */             \
                REAL I[BLOCK], V[BLOCK], R[BLOCK], O[BLOCK];                                                     \
                for (long j = 0; j < n; j++) I[j] = V[j] = R[j] = O[j] = 0;                                      \
                for (long t = 0; t < T; t++) {                                                                   \
                    const REAL *us = u + t * M + base;                                                           \
                    if (need_psp) {                                                                              \
                        const REAL *xt = x + t * M + base;                                                       \
                        _Pragma("omp simd")                                                                      \
                        for (long j = 0; j < n; j++) {                                                           \
                            REAL i = as[j] * I[j] + xt[j];                                                       \
                            REAL v = am[j] * V[j] + i;                                                           \
                            I[j] = i; V[j] = v;                                                                  \
                            hI[t * BLOCK + j] = i; hV[t * BLOCK + j] = v;                                        \
                        }                                                                                        \
                    }                                                                                            \
                    if (need_r) {                                                                                \
                        _Pragma("omp simd")                                                                      \
                        for (long j = 0; j < n; j++) {                                                           \
                            REAL r = ar[j] * R[j] + thr[j] * O[j];                                               \
                            R[j] = r; O[j] = us[j] >= th[j] ? (REAL)1 : (REAL)0;                                 \
                            hR[t * BLOCK + j] = r;                                                               \
                        }                                                                                        \
                    }                                                                                            \
                }                                                                                                \
            }                                                                                                    \
            for (long t = T - 1; t >= 0; t--) {                                                                  \
                const REAL *ut = u + t * M + base;                                                               \
                const REAL *got = g_o ? g_o + t * M + base : zero;                                               \
                const REAL *gut = g_u ? g_u + t * M + base : zero;                                               \
                /* o[t-1] = (u[t-1] >= theta), the forward's own test on the saved u; none before t = 0. */      \
                const REAL *uprev = t > 0 ? u + (t - 1) * M + base : ut;                                         \
                REAL has_prev = t > 0 ? (REAL)1 : (REAL)0;                                                       \
                REAL *gx = grad_x + t * M + base;                                                                \
                REAL reset = detach_reset ? (REAL)0 : (REAL)1;                                                   \
                surrogate_block_##SUF(kind, width, ut, th, sgv, n);                                              \
                _Pragma("omp simd")                                                                              \
                for (long j = 0; j < n; j++) {                                                                   \
                    REAL d_o = got[j] + reset * thr[j] * dR[j];                                                  \
                    REAL sgdo = sgv[j] * d_o;                                                                    \
                    REAL du = gut[j] + sgdo;                                                                     \
                    REAL r = ar[j] * dR[j] - du;                                                                 \
                    REAL v = am[j] * dV[j] + du;                                                                 \
                    REAL i = as[j] * dI[j] + v;                                                                  \
                    dR[j] = r; dV[j] = v; dI[j] = i;                                                             \
                    gx[j] = i;                                                                                   \
                    gth[j] -= sgdo;                                                                              \
                    REAL oprev = (uprev[j] >= th[j] ? (REAL)1 : (REAL)0) * has_prev;                             \
                    gthr[j] += r * oprev;                                                                        \
                }                                                                                                \
                if (t > 0 && hist != NULL) {                                                                     \
                    const REAL *pI = hI + (t - 1) * BLOCK, *pV = hV + (t - 1) * BLOCK;                           \
                    const REAL *pR = hR ? hR + (t - 1) * BLOCK : NULL;                                           \
                    if (need_psp) {                                                                              \
                        _Pragma("omp simd")                                                                      \
                        for (long j = 0; j < n; j++) {                                                           \
                            gas[j] += dI[j] * pI[j];                                                             \
                            gam[j] += dV[j] * pV[j];                                                             \
                        }                                                                                        \
                    }                                                                                            \
                    if (need_r) {                                                                                \
                        _Pragma("omp simd")                                                                      \
                        for (long j = 0; j < n; j++) gar[j] += dR[j] * pR[j];                                    \
                    }                                                                                            \
                }                                                                                                \
            }                                                                                                    \
            long off = (long)tid * P + k0;                                                                       \
            for (long j = 0; j < n; j++) {                                                                       \
                if (grad_as) grad_as[off + j] += gas[j];                                                         \
                if (grad_am) grad_am[off + j] += gam[j];                                                         \
                if (grad_ar) grad_ar[off + j] += gar[j];                                                         \
                if (grad_th) grad_th[off + j] += gth[j];                                                         \
                if (grad_thr) grad_thr[off + j] += gthr[j];                                                      \
            }                                                                                                    \
        }                                                                                                        \
        free(hist);                                                                                              \
        restore_subnormals(csr);                                                                                 \
    }                                                                                                            \
    return failed ? BPSRM_NO_MEMORY : BPSRM_OK;                                                                  \
}

DEFINE_KERNELS(float, f32, exp_f32, fabsf, (long)(BLOCK_BYTES / sizeof(float)))
DEFINE_KERNELS(double, f64, exp_f64, fabs, (long)(BLOCK_BYTES / sizeof(double)))

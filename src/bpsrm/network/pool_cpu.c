/*
 * Max pooling with window = stride = (kh, kw), floor mode, over contiguous planes [P, H, W]
 * (1-D pooling is the case H = kh = 1). Loaded with ctypes by bpsrm/network/pool_cpu.py; no Python API.
 *
 *   y[p, i, j] = max over a < kh, b < kw of x[p, i kh + a, j kw + b]
 *
 * The window is scanned row by row and an element replaces the running maximum when it is larger
 * or NaN, starting from -inf with the first element as the argmax: PyTorch's own CPU rule
 * (aten/src/ATen/native/cpu/MaxPoolKernel.cpp), so ties (all-zero windows of spikes) and NaN send
 * the gradient where PyTorch sends it. The argmax is kept as its place in the window,
 * a kw + b < kh kw <= 256, in one byte (PyTorch keeps an int64 per output).
 *
 * The backward writes every element of dx once: the gradient of y at the argmax, 0 elsewhere
 * (windows do not overlap; rows and columns past the last whole window get 0).
 * Planes are shared among OpenMP threads.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

/* The version of the signatures of this library's kernels (pool_cpu.c and tcn_cpu.c), checked by
 * bpsrm/network/native.py's ABI when it loads: raise both together when a signature changes. */
int bpsrm_network_abi(void) { return 1; }

/* The windows of the configured networks, 2 x 2 (images) and 1 x 2, 1 x 4 (signals), with the window's size
 * known to the compiler, so that its loops unroll and run without branches: the same rule (places a kw + b in
 * row order; an element replaces the maximum when larger or NaN). The first place always wins against the
 * initial -inf (it is larger, NaN, or -inf itself, which leaves place 0), so it starts the running maximum.
 * Without an index (inference) only the maximum is kept. */
#define DEFINE_FIXED(T, SUFFIX, KH, KW)                                                                          \
    static void pool_##KH##x##KW##_##SUFFIX(const T *restrict xp, T *restrict yp, uint8_t *restrict ip, long Ho, \
                                            long Wo, long W) {                                                   \
        for (long i = 0; i < Ho; ++i) {                                                                          \
            const T *restrict r = xp + KH * i * W;                                                               \
            T *restrict yr = yp + i * Wo;                                                                        \
            if (ip) {                                                                                            \
                uint8_t *restrict ir = ip + i * Wo;                                                              \
                for (long j = 0; j < Wo; ++j) {                                                                  \
                    T best = r[KW * j];                                                                          \
                    uint8_t at = 0;                                                                              \
                    for (int q = 1; q < KH * KW; ++q) {                                                          \
                        const T v = r[(q / KW) * W + KW * j + q % KW];                                           \
                        const int take = (v > best) | (v != v);                                                  \
                        best = take ? v : best;                                                                  \
                        at = take ? (uint8_t)q : at;                                                             \
                    }                                                                                            \
                    yr[j] = best;                                                                                \
                    ir[j] = at;                                                                                  \
                }                                                                                                \
            } else {                                                                                             \
                for (long j = 0; j < Wo; ++j) {                                                                  \
                    T best = r[KW * j];                                                                          \
                    for (int q = 1; q < KH * KW; ++q) {                                                          \
                        const T v = r[(q / KW) * W + KW * j + q % KW];                                           \
                        best = ((v > best) | (v != v)) ? v : best;                                               \
                    }                                                                                            \
                    yr[j] = best;                                                                                \
                }                                                                                                \
            }                                                                                                    \
        }                                                                                                        \
    }                                                                                                            \
                                                                                                                 \
    /* Its backward: every input element written once, g at the argmax, 0 elsewhere and past the last window. */ \
    static void pool_##KH##x##KW##_backward_##SUFFIX(const T *restrict gp, const uint8_t *restrict ip,           \
                                                     T *restrict dp, long H, long W) {                           \
        const long Ho = H / KH, Wo = W / KW;                                                                     \
        for (long i = 0; i < Ho; ++i) {                                                                          \
            T *restrict r = dp + KH * i * W;                                                                     \
            const T *restrict gr = gp + i * Wo;                                                                  \
            const uint8_t *restrict ir = ip + i * Wo;                                                            \
            for (long j = 0; j < Wo; ++j) {                                                                      \
                const T g = gr[j];                                                                               \
                const uint8_t at = ir[j];                                                                        \
                for (int q = 0; q < KH * KW; ++q) r[(q / KW) * W + KW * j + q % KW] = at == q ? g : (T)0;        \
            }                                                                                                    \
            if (W > KW * Wo)                                                                                     \
                for (int a = 0; a < KH; ++a) memset(r + a * W + KW * Wo, 0, (size_t)(W - KW * Wo) * sizeof(T)); \
        }                                                                                                        \
        if (H > KH * Ho) memset(dp + KH * Ho * W, 0, (size_t)((H - KH * Ho) * W) * sizeof(T));                   \
    }

DEFINE_FIXED(float, f32, 2, 2)
DEFINE_FIXED(double, f64, 2, 2)
DEFINE_FIXED(float, f32, 1, 2)
DEFINE_FIXED(double, f64, 1, 2)
DEFINE_FIXED(float, f32, 1, 4)
DEFINE_FIXED(double, f64, 1, 4)

#define DEFINE_POOL(T, SUFFIX)                                                                                  \
    void bpsrm_maxpool_forward_##SUFFIX(const T *x, T *y, uint8_t *index, long planes, long H, long W, long kh, \
                                        long kw, int threads) {                                                 \
        const long Ho = H / kh, Wo = W / kw;                                                                    \
        _Pragma("omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)")                     \
        for (long p = 0; p < planes; ++p) {                                                                     \
            const T *xp = x + p * H * W;                                                                        \
            T *yp = y + p * Ho * Wo;                                                                            \
            uint8_t *ip = index ? index + p * Ho * Wo : NULL;                                                   \
            if (kh == 2 && kw == 2) {                                                                           \
                pool_2x2_##SUFFIX(xp, yp, ip, Ho, Wo, W);                                                       \
                continue;                                                                                       \
            }                                                                                                   \
            if (kh == 1 && (kw == 2 || kw == 4)) {                                                              \
                (kw == 2 ? pool_1x2_##SUFFIX : pool_1x4_##SUFFIX)(xp, yp, ip, Ho, Wo, W);                       \
                continue;                                                                                       \
            }                                                                                                   \
            for (long i = 0; i < Ho; ++i) {                                                                     \
                for (long j = 0; j < Wo; ++j) {                                                                 \
                    const T *w0 = xp + i * kh * W + j * kw;                                                     \
                    T best = (T)-INFINITY;                                                                      \
                    int at = 0;                                                                                 \
                    for (long a = 0; a < kh; ++a) {                                                             \
                        for (long b = 0; b < kw; ++b) {                                                         \
                            const T v = w0[a * W + b];                                                          \
                            const int take = (v > best) | (v != v); /* v != v: NaN */                           \
                            best = take ? v : best;                                                             \
                            at = take ? (int)(a * kw + b) : at;                                                 \
                        }                                                                                       \
                    }                                                                                           \
                    yp[i * Wo + j] = best;                                                                      \
                    if (ip) ip[i * Wo + j] = (uint8_t)at;                                                       \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }                                                                                                           \
                                                                                                                \
    void bpsrm_maxpool_backward_##SUFFIX(const T *grad, const uint8_t *index, T *grad_x, long planes, long H,   \
                                         long W, long kh, long kw, int threads) {                               \
        const long Ho = H / kh, Wo = W / kw;                                                                    \
        _Pragma("omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)")                     \
        for (long p = 0; p < planes; ++p) {                                                                     \
            const T *gp = grad + p * Ho * Wo;                                                                   \
            const uint8_t *ip = index + p * Ho * Wo;                                                            \
            T *dp = grad_x + p * H * W;                                                                         \
            if (kh == 2 && kw == 2) {                                                                           \
                pool_2x2_backward_##SUFFIX(gp, ip, dp, H, W);                                                   \
                continue;                                                                                       \
            }                                                                                                   \
            if (kh == 1 && (kw == 2 || kw == 4)) {                                                              \
                (kw == 2 ? pool_1x2_backward_##SUFFIX : pool_1x4_backward_##SUFFIX)(gp, ip, dp, H, W);          \
                continue;                                                                                       \
            }                                                                                                   \
            memset(dp, 0, (size_t)(H * W) * sizeof(T));                                                         \
            for (long i = 0; i < Ho; ++i) {                                                                     \
                for (long j = 0; j < Wo; ++j) {                                                                 \
                    const long at = ip[i * Wo + j];                                                             \
                    dp[(i * kh + at / kw) * W + j * kw + at % kw] = gp[i * Wo + j];                             \
                }                                                                                               \
            }                                                                                                   \
        }                                                                                                       \
    }

DEFINE_POOL(float, f32)
DEFINE_POOL(double, f64)

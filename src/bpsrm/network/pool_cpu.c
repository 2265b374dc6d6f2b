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
 * a kh + b < kh kw <= 256, in one byte (PyTorch keeps an int64 per output).
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

/* The 2 x 2 window, the common case, unrolled and without branches so that it vectorises: the same rule
 * (places 0, 1, 2, 3 in row order; an element replaces the maximum when larger or NaN). The first place
 * always wins against the initial -inf (it is larger, NaN, or -inf itself, which leaves place 0). */
#define DEFINE_2X2(T, SUFFIX)                                                                                   \
    static void pool_2x2_##SUFFIX(const T *restrict xp, T *restrict yp, uint8_t *restrict ip, long Ho, long Wo, \
                                  long W) {                                                                     \
        for (long i = 0; i < Ho; ++i) {                                                                         \
            const T *restrict r0 = xp + 2 * i * W, *restrict r1 = r0 + W;                                       \
            T *restrict yr = yp + i * Wo;                                                                       \
            uint8_t *restrict ir = ip + i * Wo;                                                                 \
            for (long j = 0; j < Wo; ++j) {                                                                     \
                const T a = r0[2 * j], b = r0[2 * j + 1], c = r1[2 * j], d = r1[2 * j + 1];                     \
                T best = a;                                                                                     \
                uint8_t at = 0;                                                                                 \
                const int tb = (b > best) | (b != b);                                                           \
                best = tb ? b : best;                                                                           \
                at = tb ? 1 : at;                                                                               \
                const int tc = (c > best) | (c != c);                                                           \
                best = tc ? c : best;                                                                           \
                at = tc ? 2 : at;                                                                               \
                const int td = (d > best) | (d != d);                                                           \
                best = td ? d : best;                                                                           \
                at = td ? 3 : at;                                                                               \
                yr[j] = best;                                                                                   \
                ir[j] = at;                                                                                     \
            }                                                                                                   \
        }                                                                                                       \
    }

/* Its backward: each input element of a whole window written once, g at the argmax and 0 elsewhere. */
#define DEFINE_2X2_BACKWARD(T, SUFFIX)                                                                          \
    static void pool_2x2_backward_##SUFFIX(const T *restrict gp, const uint8_t *restrict ip, T *restrict dp,    \
                                           long Ho, long Wo, long W) {                                          \
        for (long i = 0; i < Ho; ++i) {                                                                         \
            T *restrict r0 = dp + 2 * i * W, *restrict r1 = r0 + W;                                             \
            const T *restrict gr = gp + i * Wo;                                                                 \
            const uint8_t *restrict ir = ip + i * Wo;                                                           \
            for (long j = 0; j < Wo; ++j) {                                                                     \
                const T g = gr[j];                                                                              \
                const uint8_t at = ir[j];                                                                       \
                r0[2 * j] = at == 0 ? g : (T)0;                                                                 \
                r0[2 * j + 1] = at == 1 ? g : (T)0;                                                             \
                r1[2 * j] = at == 2 ? g : (T)0;                                                                 \
                r1[2 * j + 1] = at == 3 ? g : (T)0;                                                             \
            }                                                                                                   \
        }                                                                                                       \
    }

DEFINE_2X2_BACKWARD(float, f32)
DEFINE_2X2_BACKWARD(double, f64)
DEFINE_2X2(float, f32)
DEFINE_2X2(double, f64)

#define DEFINE_POOL(T, SUFFIX)                                                                                  \
    void bpsrm_maxpool_forward_##SUFFIX(const T *x, T *y, uint8_t *index, long planes, long H, long W, long kh, \
                                        long kw, int threads) {                                                 \
        const long Ho = H / kh, Wo = W / kw;                                                                    \
        _Pragma("omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1)")                     \
        for (long p = 0; p < planes; ++p) {                                                                     \
            const T *xp = x + p * H * W;                                                                        \
            T *yp = y + p * Ho * Wo;                                                                            \
            uint8_t *ip = index ? index + p * Ho * Wo : NULL;                                                   \
            if (kh == 2 && kw == 2 && ip) {                                                                     \
                pool_2x2_##SUFFIX(xp, yp, ip, Ho, Wo, W);                                                       \
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
            if (kh == 2 && kw == 2 && H % 2 == 0 && W % 2 == 0) {                                               \
                pool_2x2_backward_##SUFFIX(gp, ip, dp, Ho, Wo, W);                                              \
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

/*
 * A flat C interface over libvpx (VP8) and libopus for ferrtc-media's
 * `codecs` feature. Rust never declares libvpx's configuration structs: it
 * sees opaque handles and a few functions taking plain integers and
 * pointers. Every function checks its arguments; none aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vpx_encoder.h>

#include <opus.h>

/* ---------------------------------------------------------------- VP8 */

struct ferrtc_vp8_enc {
    vpx_codec_ctx_t ctx;
    vpx_image_t img;
    vpx_codec_iter_t iter;
    int64_t pts;
};

/* A real-time VP8 encoder (RFC 6386 bitstream) for `width`x`height` I420
 * at `fps` frames per second and `bitrate_kbps` kbit/s, CBR, no lag, a
 * keyframe at least every `keyframe_interval` frames. NULL on failure,
 * with the libvpx error code in *err. */
struct ferrtc_vp8_enc *ferrtc_vp8_enc_new(unsigned width, unsigned height, unsigned fps,
                                          unsigned bitrate_kbps, unsigned keyframe_interval,
                                          int *err) {
    vpx_codec_enc_cfg_t cfg;
    struct ferrtc_vp8_enc *enc;
    vpx_codec_err_t res;

    *err = VPX_CODEC_INVALID_PARAM;
    if (width == 0 || height == 0 || width > 16383 || height > 16383 || fps == 0 ||
        bitrate_kbps == 0)
        return NULL;
    res = vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0);
    if (res != VPX_CODEC_OK) {
        *err = res;
        return NULL;
    }
    cfg.g_w = width;
    cfg.g_h = height;
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = (int)fps;
    cfg.g_threads = 1;
    cfg.g_lag_in_frames = 0;
    cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    cfg.rc_end_usage = VPX_CBR;
    cfg.rc_target_bitrate = bitrate_kbps;
    cfg.rc_dropframe_thresh = 0;
    cfg.rc_min_quantizer = 2;
    cfg.rc_max_quantizer = 56;
    cfg.kf_mode = VPX_KF_AUTO;
    cfg.kf_min_dist = 0;
    cfg.kf_max_dist = keyframe_interval == 0 ? 3 * fps : keyframe_interval;

    enc = calloc(1, sizeof(*enc));
    if (enc == NULL) {
        *err = VPX_CODEC_MEM_ERROR;
        return NULL;
    }
    res = vpx_codec_enc_init(&enc->ctx, vpx_codec_vp8_cx(), &cfg, 0);
    if (res != VPX_CODEC_OK) {
        *err = res;
        free(enc);
        return NULL;
    }
    /* Fastest real-time speed: a test pattern needs no more. */
    vpx_codec_control(&enc->ctx, VP8E_SET_CPUUSED, 8);
    vpx_codec_control(&enc->ctx, VP8E_SET_STATIC_THRESHOLD, 1);
    if (vpx_img_alloc(&enc->img, VPX_IMG_FMT_I420, width, height, 16) == NULL) {
        vpx_codec_destroy(&enc->ctx);
        free(enc);
        *err = VPX_CODEC_MEM_ERROR;
        return NULL;
    }
    *err = VPX_CODEC_OK;
    return enc;
}

static void copy_plane(uint8_t *dst, int dst_stride, const uint8_t *src, size_t src_stride,
                       unsigned w, unsigned h) {
    unsigned row;
    for (row = 0; row < h; row++)
        memcpy(dst + (size_t)row * (size_t)dst_stride, src + (size_t)row * src_stride, w);
}

/* Encodes one I420 picture (planes of at least stride*rows bytes, checked
 * by the caller), a keyframe when `force_keyframe`. The compressed frames
 * then come from ferrtc_vp8_enc_next. Returns a vpx_codec_err_t. */
int ferrtc_vp8_enc_encode(struct ferrtc_vp8_enc *enc, const uint8_t *y, size_t y_stride,
                          const uint8_t *u, size_t u_stride, const uint8_t *v, size_t v_stride,
                          int force_keyframe) {
    unsigned w, h, cw, ch;
    vpx_codec_err_t res;

    if (enc == NULL || y == NULL || u == NULL || v == NULL)
        return VPX_CODEC_INVALID_PARAM;
    w = enc->img.d_w;
    h = enc->img.d_h;
    cw = (w + 1) / 2;
    ch = (h + 1) / 2;
    if (y_stride < w || u_stride < cw || v_stride < cw)
        return VPX_CODEC_INVALID_PARAM;
    copy_plane(enc->img.planes[VPX_PLANE_Y], enc->img.stride[VPX_PLANE_Y], y, y_stride, w, h);
    copy_plane(enc->img.planes[VPX_PLANE_U], enc->img.stride[VPX_PLANE_U], u, u_stride, cw, ch);
    copy_plane(enc->img.planes[VPX_PLANE_V], enc->img.stride[VPX_PLANE_V], v, v_stride, cw, ch);
    res = vpx_codec_encode(&enc->ctx, &enc->img, enc->pts, 1,
                           force_keyframe ? VPX_EFLAG_FORCE_KF : 0, VPX_DL_REALTIME);
    enc->pts += 1;
    enc->iter = NULL;
    return res;
}

/* The next compressed frame of the last encode: 1 with *data, *len and
 * *keyframe set (valid until the next encode), 0 when there is none. */
int ferrtc_vp8_enc_next(struct ferrtc_vp8_enc *enc, const uint8_t **data, size_t *len,
                        int *keyframe) {
    const vpx_codec_cx_pkt_t *pkt;

    if (enc == NULL)
        return 0;
    while ((pkt = vpx_codec_get_cx_data(&enc->ctx, &enc->iter)) != NULL) {
        if (pkt->kind != VPX_CODEC_CX_FRAME_PKT)
            continue;
        *data = pkt->data.frame.buf;
        *len = pkt->data.frame.sz;
        *keyframe = (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
        return 1;
    }
    return 0;
}

void ferrtc_vp8_enc_free(struct ferrtc_vp8_enc *enc) {
    if (enc == NULL)
        return;
    vpx_img_free(&enc->img);
    vpx_codec_destroy(&enc->ctx);
    free(enc);
}

struct ferrtc_vp8_dec {
    vpx_codec_ctx_t ctx;
    vpx_codec_iter_t iter;
};

/* A VP8 decoder, single-threaded. NULL on failure, the error in *err. */
struct ferrtc_vp8_dec *ferrtc_vp8_dec_new(int *err) {
    vpx_codec_dec_cfg_t cfg;
    struct ferrtc_vp8_dec *dec;
    vpx_codec_err_t res;

    memset(&cfg, 0, sizeof(cfg));
    cfg.threads = 1;
    dec = calloc(1, sizeof(*dec));
    if (dec == NULL) {
        *err = VPX_CODEC_MEM_ERROR;
        return NULL;
    }
    res = vpx_codec_dec_init(&dec->ctx, vpx_codec_vp8_dx(), &cfg, 0);
    if (res != VPX_CODEC_OK) {
        *err = res;
        free(dec);
        return NULL;
    }
    *err = VPX_CODEC_OK;
    return dec;
}

/* Decodes one compressed frame; the pictures then come from
 * ferrtc_vp8_dec_next. Returns a vpx_codec_err_t. */
int ferrtc_vp8_dec_decode(struct ferrtc_vp8_dec *dec, const uint8_t *data, size_t len) {
    vpx_codec_err_t res;

    if (dec == NULL || data == NULL || len == 0 || len > UINT32_MAX)
        return VPX_CODEC_INVALID_PARAM;
    res = vpx_codec_decode(&dec->ctx, data, (unsigned int)len, NULL, 0);
    dec->iter = NULL;
    return res;
}

/* The next decoded picture: 1 with its three planes, strides and size
 * (valid until the next decode), 0 when there is none, -1 when it is not
 * 8-bit I420. */
int ferrtc_vp8_dec_next(struct ferrtc_vp8_dec *dec, const uint8_t **planes, int *strides,
                        unsigned *width, unsigned *height) {
    vpx_image_t *img;
    int i;

    if (dec == NULL)
        return 0;
    img = vpx_codec_get_frame(&dec->ctx, &dec->iter);
    if (img == NULL)
        return 0;
    if (img->fmt != VPX_IMG_FMT_I420)
        return -1;
    for (i = 0; i < 3; i++) {
        planes[i] = img->planes[i];
        strides[i] = img->stride[i];
    }
    *width = img->d_w;
    *height = img->d_h;
    return 1;
}

void ferrtc_vp8_dec_free(struct ferrtc_vp8_dec *dec) {
    if (dec == NULL)
        return;
    vpx_codec_destroy(&dec->ctx);
    free(dec);
}

/* A short text for a vpx_codec_err_t (static storage). */
const char *ferrtc_vpx_error(int code) {
    return vpx_codec_err_to_string((vpx_codec_err_t)code);
}

/* --------------------------------------------------------------- Opus */

/* An Opus encoder (RFC 6716) at 48 kHz, `channels` 1 or 2,
 * `bitrate` bit/s, application "audio". NULL on failure, the Opus error
 * in *err. */
OpusEncoder *ferrtc_opus_enc_new(int channels, int bitrate, int *err) {
    OpusEncoder *enc = opus_encoder_create(48000, channels, OPUS_APPLICATION_AUDIO, err);
    if (enc == NULL)
        return NULL;
    if (*err == OPUS_OK)
        *err = opus_encoder_ctl(enc, OPUS_SET_BITRATE(bitrate));
    if (*err != OPUS_OK) {
        opus_encoder_destroy(enc);
        return NULL;
    }
    return enc;
}

/* Encodes `frame_size` samples per channel of interleaved 16-bit PCM
 * into `out` (at most `max` bytes). The packet length, or an Opus error
 * (negative). */
int ferrtc_opus_enc_encode(OpusEncoder *enc, const int16_t *pcm, int frame_size, uint8_t *out,
                           int max) {
    if (enc == NULL || pcm == NULL || out == NULL)
        return OPUS_BAD_ARG;
    return opus_encode(enc, pcm, frame_size, out, max);
}

void ferrtc_opus_enc_free(OpusEncoder *enc) {
    if (enc != NULL)
        opus_encoder_destroy(enc);
}

/* An Opus decoder at 48 kHz with `channels` output channels. */
OpusDecoder *ferrtc_opus_dec_new(int channels, int *err) {
    return opus_decoder_create(48000, channels, err);
}

/* Decodes one packet into `pcm` (room for `max_samples` samples per
 * channel, interleaved). Samples per channel decoded, or an Opus error
 * (negative). */
int ferrtc_opus_dec_decode(OpusDecoder *dec, const uint8_t *data, int len, int16_t *pcm,
                           int max_samples) {
    if (dec == NULL || data == NULL || pcm == NULL || len <= 0)
        return OPUS_BAD_ARG;
    return opus_decode(dec, data, len, pcm, max_samples, 0);
}

void ferrtc_opus_dec_free(OpusDecoder *dec) {
    if (dec != NULL)
        opus_decoder_destroy(dec);
}

/* A short text for an Opus error code (static storage). */
const char *ferrtc_opus_error(int code) {
    return opus_strerror(code);
}

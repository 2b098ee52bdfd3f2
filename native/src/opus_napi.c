/*
 * Opus for the phone leg (DESIGN.md section 5), on libopus 1.x built from the
 * source that @discordjs/opus ships (deps/binding.gyp:libopus). We call
 * libopus ourselves because @discordjs/opus's decode() always passes
 * decode_fec = 0 and conceals a loss with its 120 ms maximum frame size; a
 * jitter buffer needs one 20 ms frame of packet-loss concealment, and in-band
 * FEC recovery of a lost frame from the packet after it
 * (opus_decode(..., decode_fec = 1), RFC 6716 section 2.1.7 and the libopus
 * API docs for opus_decode).
 *
 * Handles are externals checked against the registry with their kind
 * (wrap_handle / handle_arg, as polyphase filters). Codec errors from a peer's bytes (a corrupt packet) are
 * returned as negative libopus codes, not thrown: the caller conceals.
 */
#include "opus_napi.h"

#include <opus.h>
#include <stdio.h>
#include <stdlib.h>

#include "napi_args.h"
#include "registry.h"

/* 120 ms at 48 kHz: the longest frame libopus decodes (RFC 6716 section 3.2). */
#define MAX_FRAME_SAMPLES 5760
/* Recommended maximum packet size (libopus docs: 1275 bytes per frame, up to 3 frames). */
#define MAX_PACKET_BYTES 3828

typedef struct {
  OpusDecoder *decoder;
  int rate;
} ttma_opus_decoder;

typedef struct {
  OpusEncoder *encoder;
  int rate;
} ttma_opus_encoder;

static int valid_rate(int64_t rate) {
  return rate == 8000 || rate == 12000 || rate == 16000 || rate == 24000 || rate == 48000;
}

static void decoder_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ttma_opus_decoder *d = data;
  ttma_registry_remove(d);
  opus_decoder_destroy(d->decoder);
  free(d);
}

static void encoder_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  ttma_opus_encoder *e = data;
  ttma_registry_remove(e);
  opus_encoder_destroy(e->encoder);
  free(e);
}

/* opusDecoder(sampleRate) */
static napi_value opus_decoder(napi_env env, napi_callback_info info) {
  static const char fn[] = "opusDecoder";
  size_t argc = 1;
  napi_value argv[1];
  int64_t rate;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env, fn);
  if (!integer_arg(env, argv[0], fn, "sampleRate", 8000, 48000, &rate)) return NULL;
  if (!valid_rate(rate)) {
    throw_range(env, fn, "sampleRate must be 8000, 12000, 16000, 24000 or 48000");
    return NULL;
  }
  ttma_opus_decoder *d = calloc(1, sizeof *d);
  if (d == NULL) {
    napi_throw_error(env, "TTMA_ERR_NATIVE", "opusDecoder: out of memory");
    return NULL;
  }
  int error = OPUS_OK;
  d->decoder = opus_decoder_create((opus_int32)rate, 1, &error);
  d->rate = (int)rate;
  if (d->decoder == NULL || error != OPUS_OK) {
    free(d);
    throw_range(env, fn, opus_strerror(error));
    return NULL;
  }
  return wrap_handle(env, d, TTMA_HANDLE_OPUS_DECODER, decoder_finalize, fn);
}

/*
 * opusDecode(handle, packet | null, fec, pcm): samples written to pcm, or a
 * negative libopus error code for a packet libopus refuses.
 * - packet null: packet-loss concealment of exactly pcm.length samples.
 * - fec 1: recover the frame before `packet` from its in-band FEC data
 *   (pcm.length samples; concealment when the packet carries none).
 * - else: decode the packet into pcm (at most pcm.length samples).
 * pcm.length must be a multiple of 2.5 ms for concealment and FEC.
 */
static napi_value opus_decode_fn(napi_env env, napi_callback_info info) {
  static const char fn[] = "opusDecode";
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env, fn);
  ttma_opus_decoder *d = handle_arg(env, argv[0], TTMA_HANDLE_OPUS_DECODER, fn, "opusDecoder");
  if (d == NULL) return NULL;
  napi_valuetype kind;
  if (napi_typeof(env, argv[1], &kind) != napi_ok) return napi_failed(env, fn);
  void *packet = NULL;
  size_t packet_length = 0;
  if (kind != napi_null && !typed_arg(env, argv[1], napi_uint8_array, fn, "packet", &packet, &packet_length)) {
    return NULL;
  }
  int64_t fec;
  if (!integer_arg(env, argv[2], fn, "fec", 0, 1, &fec)) return NULL;
  void *pcm;
  size_t samples;
  if (!typed_arg(env, argv[3], napi_int16_array, fn, "pcm", &pcm, &samples)) return NULL;
  if (samples == 0 || samples > MAX_FRAME_SAMPLES) {
    throw_range(env, fn, "pcm must hold 1 to 5760 samples");
    return NULL;
  }
  if (packet_length > MAX_PACKET_BYTES) {
    return number(env, OPUS_INVALID_PACKET, fn);
  }
  if ((packet == NULL || fec) && samples % (size_t)(d->rate / 400) != 0) {
    throw_range(env, fn, "pcm must hold a multiple of 2.5 ms for concealment or FEC");
    return NULL;
  }
  if (fec && packet == NULL) {
    throw_range(env, fn, "fec needs the packet after the lost one");
    return NULL;
  }
  int written = opus_decode(d->decoder, packet, (opus_int32)packet_length, pcm, (int)samples, (int)fec);
  return number(env, written, fn);
}

/* opusEncoder(sampleRate, bitrate, fec, expectedLossPercent, complexity): VoIP application, mono. */
static napi_value opus_encoder(napi_env env, napi_callback_info info) {
  static const char fn[] = "opusEncoder";
  size_t argc = 5;
  napi_value argv[5];
  int64_t rate, bitrate, fec, loss, complexity;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env, fn);
  if (!integer_arg(env, argv[0], fn, "sampleRate", 8000, 48000, &rate)) return NULL;
  if (!integer_arg(env, argv[1], fn, "bitrate", 6000, 510000, &bitrate)) return NULL;
  if (!integer_arg(env, argv[2], fn, "fec", 0, 1, &fec)) return NULL;
  if (!integer_arg(env, argv[3], fn, "expectedLossPercent", 0, 100, &loss)) return NULL;
  if (!integer_arg(env, argv[4], fn, "complexity", 0, 10, &complexity)) return NULL;
  if (!valid_rate(rate)) {
    throw_range(env, fn, "sampleRate must be 8000, 12000, 16000, 24000 or 48000");
    return NULL;
  }
  ttma_opus_encoder *e = calloc(1, sizeof *e);
  if (e == NULL) {
    napi_throw_error(env, "TTMA_ERR_NATIVE", "opusEncoder: out of memory");
    return NULL;
  }
  int error = OPUS_OK;
  e->encoder = opus_encoder_create((opus_int32)rate, 1, OPUS_APPLICATION_VOIP, &error);
  e->rate = (int)rate;
  if (e->encoder == NULL || error != OPUS_OK) {
    free(e);
    throw_range(env, fn, opus_strerror(error));
    return NULL;
  }
  if (opus_encoder_ctl(e->encoder, OPUS_SET_BITRATE((opus_int32)bitrate)) != OPUS_OK ||
      opus_encoder_ctl(e->encoder, OPUS_SET_INBAND_FEC((opus_int32)fec)) != OPUS_OK ||
      opus_encoder_ctl(e->encoder, OPUS_SET_PACKET_LOSS_PERC((opus_int32)loss)) != OPUS_OK ||
      opus_encoder_ctl(e->encoder, OPUS_SET_COMPLEXITY((opus_int32)complexity)) != OPUS_OK ||
      opus_encoder_ctl(e->encoder, OPUS_SET_SIGNAL(OPUS_SIGNAL_VOICE)) != OPUS_OK) {
    opus_encoder_destroy(e->encoder);
    free(e);
    throw_range(env, fn, "libopus refused an encoder setting");
    return NULL;
  }
  return wrap_handle(env, e, TTMA_HANDLE_OPUS_ENCODER, encoder_finalize, fn);
}

/* opusEncode(handle, pcm, packet): bytes written to packet; pcm is one frame (2.5 to 60 ms). */
static napi_value opus_encode_fn(napi_env env, napi_callback_info info) {
  static const char fn[] = "opusEncode";
  size_t argc = 3;
  napi_value argv[3];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return napi_failed(env, fn);
  ttma_opus_encoder *e = handle_arg(env, argv[0], TTMA_HANDLE_OPUS_ENCODER, fn, "opusEncoder");
  if (e == NULL) return NULL;
  void *pcm, *packet;
  size_t samples, room;
  if (!typed_arg(env, argv[1], napi_int16_array, fn, "pcm", &pcm, &samples)) return NULL;
  if (!typed_arg(env, argv[2], napi_uint8_array, fn, "packet", &packet, &room)) return NULL;
  int written = opus_encode(e->encoder, pcm, (int)samples, packet, (opus_int32)(room > MAX_PACKET_BYTES ? MAX_PACKET_BYTES : room));
  if (written < 0) {
    char message[128];
    snprintf(message, sizeof message, "%s (pcm holds %zu samples at %d Hz)", opus_strerror(written), samples, e->rate);
    throw_range(env, fn, message);
    return NULL;
  }
  return number(env, written, fn);
}

int ttma_opus_define(napi_env env, napi_value exports) {
  napi_property_descriptor functions[] = {
      {"opusDecoder", NULL, opus_decoder, NULL, NULL, NULL, napi_enumerable, NULL},
      {"opusDecode", NULL, opus_decode_fn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"opusEncoder", NULL, opus_encoder, NULL, NULL, NULL, napi_enumerable, NULL},
      {"opusEncode", NULL, opus_encode_fn, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof functions / sizeof functions[0], functions) != napi_ok) return 0;
  napi_value version;
  if (napi_create_string_utf8(env, opus_get_version_string(), NAPI_AUTO_LENGTH, &version) != napi_ok) return 0;
  return napi_set_named_property(env, exports, "opusVersion", version) == napi_ok;
}

/* Opus encoder and decoder handles over libopus (the copy @discordjs/opus ships), see opus_napi.c. */
#ifndef TTMA_OPUS_NAPI_H
#define TTMA_OPUS_NAPI_H

#include <node_api.h>

/* Adds opusDecoder, opusDecode, opusEncoder, opusEncode to exports; 0 on failure. */
int ttma_opus_define(napi_env env, napi_value exports);

#endif

/*
 * The set of live native objects the addon handed to JavaScript, so a handle
 * coming back can be checked before its pointer is used: an external from any
 * other addon is not in the set, a freed one has left it, and one of another
 * kind (a filter passed where an Opus decoder belongs) is refused. One set for the
 * process, behind a mutex (workers each have their own handles, never shared).
 */
#ifndef TTMA_REGISTRY_H
#define TTMA_REGISTRY_H

#include <stdbool.h>

/* Returns false when out of memory (the handle must then not be handed out). */
typedef enum { TTMA_HANDLE_POLYPHASE = 1, TTMA_HANDLE_OPUS_DECODER = 2, TTMA_HANDLE_OPUS_ENCODER = 3 } ttma_handle_kind;

bool ttma_registry_add(const void *p, ttma_handle_kind kind);
void ttma_registry_remove(const void *p);
bool ttma_registry_contains(const void *p, ttma_handle_kind kind);

#endif

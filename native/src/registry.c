/* Open-addressing hash set of pointers (see registry.h); grows at half full, allocates only then. */
#include "registry.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define EMPTY ((uintptr_t)0)
#define DELETED ((uintptr_t)1)
#define INITIAL_CAPACITY 64

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *slots = NULL;
static unsigned char *kinds = NULL; /* the kind of each live slot's object */
static size_t capacity = 0; /* a power of two */
static size_t used = 0;     /* live plus deleted slots */

static size_t slot_of(uintptr_t key, size_t cap) {
  /* Fibonacci hashing of the address; allocations are aligned, so drop the low bits first. */
  return (size_t)(((key >> 4) * (uintptr_t)0x9E3779B97F4A7C15ULL) >> 7) & (cap - 1);
}

static bool rehash(size_t new_capacity) {
  uintptr_t *fresh = calloc(new_capacity, sizeof *fresh);
  unsigned char *fresh_kinds = calloc(new_capacity, sizeof *fresh_kinds);
  if (fresh == NULL || fresh_kinds == NULL) {
    free(fresh);
    free(fresh_kinds);
    return false;
  }
  size_t live = 0;
  for (size_t i = 0; i < capacity; i++) {
    uintptr_t key = slots[i];
    if (key == EMPTY || key == DELETED) continue;
    size_t s = slot_of(key, new_capacity);
    while (fresh[s] != EMPTY) s = (s + 1) & (new_capacity - 1);
    fresh[s] = key;
    fresh_kinds[s] = kinds[i];
    live++;
  }
  free(slots);
  free(kinds);
  slots = fresh;
  kinds = fresh_kinds;
  capacity = new_capacity;
  used = live;
  return true;
}

static size_t live_count(void) {
  size_t live = 0;
  for (size_t i = 0; i < capacity; i++) live += slots[i] != EMPTY && slots[i] != DELETED;
  return live;
}

bool ttma_registry_add(const void *p, ttma_handle_kind kind) {
  uintptr_t key = (uintptr_t)p;
  if (key == EMPTY || key == DELETED) return false;
  pthread_mutex_lock(&lock);
  bool ok = true;
  if (2 * (used + 1) > capacity) {
    size_t live = capacity == 0 ? 0 : live_count();
    size_t target = INITIAL_CAPACITY;
    while (2 * (live + 1) > target / 2) target *= 2; /* a quarter full after the rehash */
    ok = rehash(target);
  }
  if (ok) {
    size_t s = slot_of(key, capacity);
    while (slots[s] != EMPTY && slots[s] != DELETED) s = (s + 1) & (capacity - 1);
    if (slots[s] == EMPTY) used++;
    slots[s] = key;
    kinds[s] = (unsigned char)kind;
  }
  pthread_mutex_unlock(&lock);
  return ok;
}

/* Slot holding key, or capacity when absent. Call with the lock held. */
static size_t find(uintptr_t key) {
  if (capacity == 0) return 0;
  size_t s = slot_of(key, capacity);
  while (slots[s] != EMPTY) {
    if (slots[s] == key) return s;
    s = (s + 1) & (capacity - 1);
  }
  return capacity;
}

void ttma_registry_remove(const void *p) {
  pthread_mutex_lock(&lock);
  size_t s = find((uintptr_t)p);
  if (s < capacity) slots[s] = DELETED;
  pthread_mutex_unlock(&lock);
}

bool ttma_registry_contains(const void *p, ttma_handle_kind kind) {
  uintptr_t key = (uintptr_t)p;
  if (key == EMPTY || key == DELETED) return false;
  pthread_mutex_lock(&lock);
  size_t s = find(key);
  bool found = s < capacity && kinds[s] == (unsigned char)kind;
  pthread_mutex_unlock(&lock);
  return found;
}

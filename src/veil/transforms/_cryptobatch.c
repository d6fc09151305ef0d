/*
 * veil.transforms._cryptobatch: the research path's per-value cryptography, one C call
 * per batch (see cryptobatch.py, which also holds the pure-Python twin of each function
 * and the reasons).
 *
 * Every primitive is OpenSSL's libcrypto, the library CPython's hashlib and the
 * cryptography package use; this file only loops, so a batch of a million values costs
 * a million SHA-256 or AES-GCM operations and no Python call per value.
 *
 *   hmac_sha256_hex(key, values)             -> list[str]  HMAC-SHA256 (RFC 2104), hex
 *   prefix_digests(head, items, width)       -> bytes      SHA-256(head + item)[:width], joined
 *   seal_aes_gcm(key, nonces, values, aad)   -> list[bytes] nonce + AES-256-GCM(value) + tag
 *   seal_aes_gcm_joined(key, nonces, values, aad) -> (bytes, bytes)  the same, joined, and
 *                                               their sizes as big-endian uint32
 *
 *   hmac_sha256_hex_joined(key, values)      -> bytes      the hex digests joined, 64 bytes each
 *
 * values/items are a list of str (hashed as UTF-8) or bytes; with a `layout` (each
 * function's optional last argument, see items_in) a buffer of fixed-width items or an
 * Arrow string array's data and offsets. The GIL is released while
 * hashing: the items are first held in a tuple of their own, so another thread changing
 * the caller's list cannot free a buffer in use. Nothing here formats a value into an
 * error message.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

/* The SHA256_* functions are deprecated in OpenSSL 3 in favour of EVP, whose per-call
 * context copy allocates; they remain exported (and use the CPU's SHA extensions). */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#define DIGEST 32
#define BLOCK 64
#define NONCE 12
#define TAG 16

typedef struct {
    const char *data;
    Py_ssize_t size;
} Item;

/* The items of a list of str/bytes, held by `*holder` (a new tuple) while in use. */
static Item *
items_of(PyObject *values, PyObject **holder, Py_ssize_t *count)
{
    PyObject *tuple = PySequence_Tuple(values);
    if (tuple == NULL)
        return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    Item *items = PyMem_Malloc(sizeof(Item) * (size_t)(n > 0 ? n : 1));
    if (items == NULL) {
        Py_DECREF(tuple);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = PyTuple_GET_ITEM(tuple, i);
        if (PyUnicode_CheckExact(v)) {
            /* UTF-8 of a str: its own buffer when ASCII, else a copy cached on the str
             * (made now, with the GIL held). A lone surrogate raises, as str.encode(). */
            items[i].data = PyUnicode_AsUTF8AndSize(v, &items[i].size);
            if (items[i].data == NULL)
                goto fail;
        } else if (PyBytes_CheckExact(v)) {
            items[i].data = PyBytes_AS_STRING(v);
            items[i].size = PyBytes_GET_SIZE(v);
        } else {
            PyErr_Format(PyExc_TypeError, "item %zd is neither str nor bytes", i);
            goto fail;
        }
    }
    *holder = tuple;
    *count = n;
    return items;
fail:
    PyMem_Free(items);
    Py_DECREF(tuple);
    return NULL;
}

/* The items of `values` as `layout` says. None: a list of str/bytes (items_of). An int
 * w: `values` is a buffer of items of w bytes each. A buffer of n + 1 int32 or int64
 * offsets: `values` is a buffer of n items laid out as an Arrow string array's data
 * (item i is values[offsets[i]:offsets[i + 1]]), read with no Python object per item.
 * The buffers are held by `*holder` while in use; offsets are checked against the data
 * before any item is read. */
static Item *
items_in(PyObject *values, PyObject *layout, PyObject **holder, Py_ssize_t *count)
{
    if (layout == NULL || layout == Py_None)
        return items_of(values, holder, count);
    PyObject *data = PyMemoryView_FromObject(values), *offs = NULL;
    Item *items = NULL;
    if (data == NULL)
        return NULL;
    Py_buffer *db = PyMemoryView_GET_BUFFER(data);
    if (!PyBuffer_IsContiguous(db, 'C')) {
        PyErr_SetString(PyExc_ValueError, "the data must be one contiguous buffer");
        goto fail;
    }
    const char *base = db->buf;
    Py_ssize_t size = db->len, n;
    if (PyLong_Check(layout)) {
        Py_ssize_t width = PyLong_AsSsize_t(layout);
        if (width == -1 && PyErr_Occurred())
            goto fail;
        if (width < 1 || size % width) {
            PyErr_SetString(PyExc_ValueError, "the data is not a whole number of items of that width");
            goto fail;
        }
        n = size / width;
        items = PyMem_Malloc(sizeof(Item) * (size_t)(n > 0 ? n : 1));
        if (items == NULL) {
            PyErr_NoMemory();
            goto fail;
        }
        for (Py_ssize_t i = 0; i < n; i++) {
            items[i].data = base + i * width;
            items[i].size = width;
        }
        *holder = data;
        *count = n;
        return items;
    }
    offs = PyMemoryView_FromObject(layout);
    if (offs == NULL)
        goto fail;
    Py_buffer *ob = PyMemoryView_GET_BUFFER(offs);
    Py_ssize_t isz = ob->itemsize;
    if (!PyBuffer_IsContiguous(ob, 'C') || (isz != 4 && isz != 8) || ob->len < isz) {
        PyErr_SetString(PyExc_ValueError, "offsets must be n + 1 int32 or int64 values");
        goto fail;
    }
    n = ob->len / isz - 1;
    items = PyMem_Malloc(sizeof(Item) * (size_t)(n > 0 ? n : 1));
    if (items == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    const char *at = ob->buf;
    long long prev, next;
    if (isz == 4) {
        int32_t v;
        memcpy(&v, at, 4);
        prev = v;
    } else {
        int64_t v;
        memcpy(&v, at, 8);
        prev = v;
    }
    if (prev < 0 || prev > size) {
        PyErr_SetString(PyExc_ValueError, "offsets must increase within the data");
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (isz == 4) {
            int32_t v;
            memcpy(&v, at + (i + 1) * 4, 4);
            next = v;
        } else {
            int64_t v;
            memcpy(&v, at + (i + 1) * 8, 8);
            next = v;
        }
        if (next < prev || next > size) {
            PyErr_SetString(PyExc_ValueError, "offsets must increase within the data");
            goto fail;
        }
        items[i].data = base + prev;
        items[i].size = (Py_ssize_t)(next - prev);
        prev = next;
    }
    *holder = PyTuple_Pack(2, data, offs);
    if (*holder == NULL)
        goto fail;
    Py_DECREF(data);
    Py_DECREF(offs);
    *count = n;
    return items;
fail:
    PyMem_Free(items);
    Py_XDECREF(offs);
    Py_DECREF(data);
    return NULL;
}

static const char HEX[] = "0123456789abcdef";

/* Threads a batch is split across (set_workers; 1 until the Python side sets it), and
 * the batch size below which one thread does it all. The loops run without the GIL and
 * touch only their own range, so a batch's halves can be done on two cores at once. */
static int workers = 1;
#define SPLIT_AT 4096
#define MAX_WORKERS 8

typedef struct Range Range;
typedef void (*RangeFn)(Range *);

struct Range {
    Py_ssize_t start, end;
    RangeFn fn;
    const void *job;
    int ok;
};

static void *
run_range(void *arg)
{
    Range *r = arg;
    r->fn(r);
    return NULL;
}

/* fn over [0, n), in up to `workers` ranges; a thread that cannot start runs inline.
 * Returns 1 if every range's fn left ok set. Called without the GIL. */
static int
in_parallel(RangeFn fn, const void *job, Py_ssize_t n)
{
    int k = (n < SPLIT_AT || workers < 2) ? 1 : workers;
    Range ranges[MAX_WORKERS];
    pthread_t threads[MAX_WORKERS];
    int started[MAX_WORKERS];
    for (int t = 0; t < k; t++) {
        ranges[t].start = n * t / k;
        ranges[t].end = n * (t + 1) / k;
        ranges[t].fn = fn;
        ranges[t].job = job;
        ranges[t].ok = 1;
        started[t] = 0;
    }
    for (int t = 1; t < k; t++)
        started[t] = pthread_create(&threads[t], NULL, run_range, &ranges[t]) == 0;
    run_range(&ranges[0]);
    int ok = ranges[0].ok;
    for (int t = 1; t < k; t++) {
        if (started[t])
            pthread_join(threads[t], NULL);
        else
            run_range(&ranges[t]);
        ok = ok && ranges[t].ok;
    }
    return ok;
}

/* The two SHA-256 states of HMAC's padded key (RFC 2104), computed once per batch. */
static void
hmac_states(const unsigned char *key, Py_ssize_t key_size, SHA256_CTX *inner, SHA256_CTX *outer)
{
    unsigned char block[BLOCK], pad[BLOCK];
    memset(block, 0, BLOCK);
    if (key_size > BLOCK)
        SHA256(key, (size_t)key_size, block);
    else
        memcpy(block, key, (size_t)key_size);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x36;
    SHA256_Init(inner);
    SHA256_Update(inner, pad, BLOCK);
    for (int i = 0; i < BLOCK; i++)
        pad[i] = block[i] ^ 0x5c;
    SHA256_Init(outer);
    SHA256_Update(outer, pad, BLOCK);
    OPENSSL_cleanse(block, BLOCK);
    OPENSSL_cleanse(pad, BLOCK);
}

/* SHA-256 of what `base` has hashed, then `item`: the state of a fixed prefix (HMAC's
 * padded key, a namespace) is hashed once per batch and copied per value. */
static void
digest_after(const SHA256_CTX *base, const Item *item, unsigned char digest[DIGEST])
{
    SHA256_CTX ctx = *base;
    SHA256_Update(&ctx, item->data, (size_t)item->size);
    SHA256_Final(digest, &ctx);
}

typedef struct {
    const Item *items;
    char *hex;
    SHA256_CTX inner, outer;
} HmacJob;

static void
hmac_range(Range *r)
{
    const HmacJob *job = r->job;
    unsigned char digest[DIGEST];
    for (Py_ssize_t i = r->start; i < r->end; i++) {
        digest_after(&job->inner, &job->items[i], digest);
        const Item inner = {(const char *)digest, DIGEST};
        digest_after(&job->outer, &inner, digest);
        char *out = job->hex + i * 2 * DIGEST;
        for (int j = 0; j < DIGEST; j++) {
            out[2 * j] = HEX[digest[j] >> 4];
            out[2 * j + 1] = HEX[digest[j] & 15];
        }
    }
}

/* hmac_sha256_hex (joined = 0): a list of str. hmac_sha256_hex_joined (joined = 1): the
 * hex digests joined in one bytes object, 64 bytes each (no str per value). */
static PyObject *
hmac_common(PyObject *args, int joined)
{
    Py_buffer key;
    PyObject *values, *layout = Py_None, *holder = NULL;
    Py_ssize_t n = 0;
    if (!PyArg_ParseTuple(args, "y*O|O", &key, &values, &layout))
        return NULL;
    Item *items = items_in(values, layout, &holder, &n);
    if (items == NULL) {
        PyBuffer_Release(&key);
        return NULL;
    }
    PyObject *blob = PyBytes_FromStringAndSize(NULL, n * 2 * DIGEST);
    if (blob == NULL) {
        PyMem_Free(items);
        Py_DECREF(holder);
        PyBuffer_Release(&key);
        return NULL;
    }
    char *hex = PyBytes_AS_STRING(blob);
    HmacJob job = {items, hex};
    Py_BEGIN_ALLOW_THREADS
    hmac_states(key.buf, key.len, &job.inner, &job.outer);
    in_parallel(hmac_range, &job, n);
    OPENSSL_cleanse(&job.inner, sizeof job.inner);
    OPENSSL_cleanse(&job.outer, sizeof job.outer);
    Py_END_ALLOW_THREADS
    PyMem_Free(items);
    Py_DECREF(holder);
    PyBuffer_Release(&key);
    if (joined)
        return blob;

    PyObject *result = PyList_New(n);
    for (Py_ssize_t i = 0; result != NULL && i < n; i++) {
        PyObject *s = PyUnicode_New(2 * DIGEST, 127);
        if (s == NULL) {
            Py_CLEAR(result);
            break;
        }
        memcpy(PyUnicode_1BYTE_DATA(s), hex + i * 2 * DIGEST, 2 * DIGEST);
        PyList_SET_ITEM(result, i, s);
    }
    Py_DECREF(blob);
    return result;
}

static PyObject *
hmac_sha256_hex(PyObject *self, PyObject *args)
{
    return hmac_common(args, 0);
}

static PyObject *
hmac_sha256_hex_joined(PyObject *self, PyObject *args)
{
    return hmac_common(args, 1);
}

typedef struct {
    const Item *items;
    unsigned char *out;
    Py_ssize_t width;
    SHA256_CTX base;
} PrefixJob;

static void
prefix_range(Range *r)
{
    const PrefixJob *job = r->job;
    unsigned char digest[DIGEST];
    for (Py_ssize_t i = r->start; i < r->end; i++) {
        digest_after(&job->base, &job->items[i], digest);
        memcpy(job->out + i * job->width, digest, (size_t)job->width);
    }
}

static PyObject *
prefix_digests(PyObject *self, PyObject *args)
{
    Py_buffer head;
    PyObject *values, *layout = Py_None, *holder = NULL;
    Py_ssize_t width, n = 0;
    if (!PyArg_ParseTuple(args, "y*On|O", &head, &values, &width, &layout))
        return NULL;
    if (width < 1 || width > DIGEST) {
        PyBuffer_Release(&head);
        PyErr_SetString(PyExc_ValueError, "width must be 1 to 32 bytes");
        return NULL;
    }
    Item *items = items_in(values, layout, &holder, &n);
    if (items == NULL) {
        PyBuffer_Release(&head);
        return NULL;
    }
    PyObject *result = PyBytes_FromStringAndSize(NULL, n * width);
    if (result != NULL) {
        PrefixJob job = {items, (unsigned char *)PyBytes_AS_STRING(result), width};
        Py_BEGIN_ALLOW_THREADS
        SHA256_Init(&job.base);
        SHA256_Update(&job.base, head.buf, (size_t)head.len);
        in_parallel(prefix_range, &job, n);
        Py_END_ALLOW_THREADS
    }
    PyMem_Free(items);
    Py_DECREF(holder);
    PyBuffer_Release(&head);
    return result;
}

typedef struct {
    const Item *items;
    unsigned char **outs;
    const unsigned char *key, *nonces, *aad;
    int aad_len;
} SealJob;

static void
seal_range(Range *r)
{
    const SealJob *job = r->job;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new(); /* one per thread: it holds state */
    int ok = ctx != NULL
             && EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, job->key, NULL) == 1;
    for (Py_ssize_t i = r->start; ok && i < r->end; i++) {
        const unsigned char *iv = job->nonces + i * NONCE;
        const Item *item = &job->items[i];
        unsigned char *out = job->outs[i];
        int len = 0, last = 0;
        memcpy(out, iv, NONCE);
        ok = EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) == 1
             && (job->aad_len == 0
                 || EVP_EncryptUpdate(ctx, NULL, &len, job->aad, job->aad_len) == 1)
             && EVP_EncryptUpdate(ctx, out + NONCE, &len, (const unsigned char *)item->data,
                                  (int)item->size) == 1
             && EVP_EncryptFinal_ex(ctx, out + NONCE + len, &last) == 1
             && len + last == item->size
             && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG,
                                    out + NONCE + item->size) == 1;
    }
    EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
    r->ok = ok;
}

/* seal_aes_gcm (joined = 0): a list of bytes, one per value. seal_aes_gcm_joined
 * (joined = 1): (blob, sizes), the sealed values concatenated and their sizes as
 * big-endian uint32, the vault pack's columns as they are stored, with no bytes object
 * per value. */
static PyObject *
seal_common(PyObject *args, int joined)
{
    Py_buffer key, nonces, aad;
    PyObject *values, *layout = Py_None, *holder = NULL, *result = NULL, *blob = NULL,
             *sizes = NULL;
    Py_ssize_t n = 0;
    if (!PyArg_ParseTuple(args, "y*y*Oy*|O", &key, &nonces, &values, &aad, &layout))
        return NULL;
    Item *items = NULL;
    unsigned char **outs = NULL;
    if (key.len != 32) {
        PyErr_SetString(PyExc_ValueError, "the key must be 32 bytes (AES-256)");
        goto done;
    }
    items = items_in(values, layout, &holder, &n);
    if (items == NULL)
        goto done;
    if (nonces.len != n * NONCE) {
        PyErr_SetString(PyExc_ValueError, "nonces must be 12 bytes per value");
        goto done;
    }
    outs = PyMem_Calloc((size_t)(n > 0 ? n : 1), sizeof(unsigned char *));
    if (outs == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (items[i].size > INT_MAX - NONCE - TAG || (joined && items[i].size > UINT32_MAX - NONCE - TAG)) {
            PyErr_SetString(PyExc_OverflowError, "a value is too large to seal");
            goto done;
        }
        if (total > PY_SSIZE_T_MAX - NONCE - TAG - items[i].size) {
            PyErr_SetString(PyExc_OverflowError, "the batch is too large to seal");
            goto done;
        }
        total += NONCE + items[i].size + TAG;
    }
    if (joined) {
        blob = PyBytes_FromStringAndSize(NULL, total);
        sizes = PyBytes_FromStringAndSize(NULL, 4 * n);
        if (blob == NULL || sizes == NULL)
            goto done;
        unsigned char *at = (unsigned char *)PyBytes_AS_STRING(blob);
        unsigned char *sz = (unsigned char *)PyBytes_AS_STRING(sizes);
        for (Py_ssize_t i = 0; i < n; i++) {
            Py_ssize_t size = NONCE + items[i].size + TAG;
            outs[i] = at;
            at += size;
            sz[4 * i] = (unsigned char)(size >> 24);
            sz[4 * i + 1] = (unsigned char)(size >> 16);
            sz[4 * i + 2] = (unsigned char)(size >> 8);
            sz[4 * i + 3] = (unsigned char)size;
        }
    } else {
        result = PyList_New(n);
        if (result == NULL)
            goto done;
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *b = PyBytes_FromStringAndSize(NULL, NONCE + items[i].size + TAG);
            if (b == NULL)
                goto done;
            PyList_SET_ITEM(result, i, b);
            outs[i] = (unsigned char *)PyBytes_AS_STRING(b);
        }
    }
    if (aad.len > INT_MAX) {
        PyErr_SetString(PyExc_OverflowError, "the associated data is too large");
        goto done;
    }
    SealJob job = {items, outs, key.buf, nonces.buf, aad.buf, (int)aad.len};
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    ok = in_parallel(seal_range, &job, n);
    Py_END_ALLOW_THREADS
    if (!ok) {
        PyErr_SetString(PyExc_RuntimeError, "AES-GCM failed in OpenSSL");
        goto done;
    }
    if (joined)
        result = PyTuple_Pack(2, blob, sizes);
done:
    if (PyErr_Occurred())
        Py_CLEAR(result);
    Py_XDECREF(blob);
    Py_XDECREF(sizes);
    PyMem_Free(outs);
    PyMem_Free(items);
    Py_XDECREF(holder);
    PyBuffer_Release(&key);
    PyBuffer_Release(&nonces);
    PyBuffer_Release(&aad);
    return result;
}

static PyObject *
seal_aes_gcm(PyObject *self, PyObject *args)
{
    return seal_common(args, 0);
}

static PyObject *
seal_aes_gcm_joined(PyObject *self, PyObject *args)
{
    return seal_common(args, 1);
}

static PyObject *
set_workers(PyObject *self, PyObject *arg)
{
    long n = PyLong_AsLong(arg);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    workers = n < 1 ? 1 : (n > MAX_WORKERS ? MAX_WORKERS : (int)n);
    return PyLong_FromLong(workers);
}

static PyMethodDef methods[] = {
    {"set_workers", set_workers, METH_O,
     "set_workers(n) -> int: threads a batch of 4,096 values or more is split across."},
    {"hmac_sha256_hex", hmac_sha256_hex, METH_VARARGS,
     "hmac_sha256_hex(key, values[, layout]) -> list[str]: HMAC-SHA256 of each value, as hex."},
    {"hmac_sha256_hex_joined", hmac_sha256_hex_joined, METH_VARARGS,
     "hmac_sha256_hex_joined(key, values[, layout]) -> bytes: the hex digests, joined."},
    {"prefix_digests", prefix_digests, METH_VARARGS,
     "prefix_digests(head, items, width) -> bytes: SHA-256(head + item)[:width], joined."},
    {"seal_aes_gcm", seal_aes_gcm, METH_VARARGS,
     "seal_aes_gcm(key, nonces, values, aad) -> list[bytes]: nonce + AES-256-GCM + tag."},
    {"seal_aes_gcm_joined", seal_aes_gcm_joined, METH_VARARGS,
     "seal_aes_gcm_joined(key, nonces, values, aad) -> (bytes, bytes): the sealed values"
     " joined, and their sizes as big-endian uint32."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cryptobatch",
    "The research path's per-value cryptography, one C call per batch (OpenSSL).", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__cryptobatch(void)
{
    return PyModule_Create(&module);
}

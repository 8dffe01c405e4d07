/*
 * Fused hash + HyperLogLog register update for numbers, string hashing, and
 * exact sums of floats and of their squares, one pass per block.
 *
 * The numpy path (hashing.py, hll.py) needs a dozen full-array passes and
 * temporaries per block; past the distinct threshold that was most of a
 * build's time. These loops compute bit for bit the same hashes and the same
 * registers (tests compare them), with the GIL released so columns still run
 * in parallel. Buffers only: no numpy C API, so any numpy version works.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define GOLDEN 0x9E3779B97F4A7C15ULL
#define STRIDE 0xD6E8FEB86659FD93ULL
#define PREFETCH_AHEAD 1024 /* bytes: best of 512, 1024 and 2048 on 2M rows of text */
#if defined(__GNUC__) || defined(__clang__)
#define PREFETCH(address) __builtin_prefetch(address)
#else
#define PREFETCH(address) ((void)0)
#endif

static inline uint64_t mix64(uint64_t z)
{
    z += GOLDEN;
    z ^= z >> 30;
    z *= 0xBF58476D1CE4E5B9ULL;
    z ^= z >> 27;
    z *= 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return z;
}

/* Eight bytes as one little-endian word, whatever the machine's byte order. */
static inline uint64_t load_word(const uint8_t *bytes)
{
    uint64_t word;
    memcpy(&word, bytes, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    word = __builtin_bswap64(word);
#endif
    return word;
}

/* mix64(sum_j mix64(word_j + j * STRIDE) + length * GOLDEN) over the value's words of
 * eight little-endian bytes, the last zero-padded (the length tells "a" from "a\0").
 * Each word is mixed on its own, so the multiplies overlap instead of forming one
 * chain. ``end`` is the end of the buffer: a last word that fits before it is read
 * whole and masked, one load instead of a copy of 1-7 bytes. */
static inline uint64_t hash_bytes(const uint8_t *bytes, int64_t length, const uint8_t *end)
{
    uint64_t sum = 0, position = 0;
    int64_t j = 0;
    for (; j + 8 <= length; j += 8, position += STRIDE)
        sum += mix64(load_word(bytes + j) + position);
    int64_t rest = length - j;
    if (rest) {
        uint64_t word = 0;
        if (end - (bytes + j) >= 8)
            word = load_word(bytes + j) & (~0ULL >> (64 - 8 * rest));
        else
            for (int64_t b = 0; b < rest; b++)
                word |= (uint64_t)bytes[j + b] << (8 * b);
        sum += mix64(word + position);
    }
    return mix64(sum + (uint64_t)length * GOLDEN);
}

static inline int leading_zeros(uint64_t word) /* word != 0 */
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_clzll(word);
#else
    int n = 0;
    while (!(word & 0x8000000000000000ULL)) {
        word <<= 1;
        n++;
    }
    return n;
#endif
}

static inline void observe(uint8_t *registers, int precision, uint64_t hash)
{
    uint64_t index = hash >> (64 - precision);
    uint64_t word = hash << precision;
    int cap = 64 - precision + 1;
    int rank = word ? leading_zeros(word) + 1 : cap;
    rank = rank < cap ? rank : cap;
    uint8_t held = registers[index];
    registers[index] = rank > held ? (uint8_t)rank : held; /* branch-free: ranks are random */
}

static int check_registers(Py_buffer *registers, int precision)
{
    if (precision < 4 || precision > 18) {
        PyErr_SetString(PyExc_ValueError, "precision must be between 4 and 18");
        return -1;
    }
    if (registers->readonly || registers->len != ((Py_ssize_t)1 << precision)) {
        PyErr_SetString(PyExc_ValueError, "registers must be a writable buffer of 2**precision bytes");
        return -1;
    }
    return 0;
}

static int check_offsets(Py_buffer *offsets, Py_buffer *data)
{
    if (offsets->len % 8 || offsets->len < 8) {
        PyErr_SetString(PyExc_ValueError, "offsets must be at least one int64");
        return -1;
    }
    Py_ssize_t n = offsets->len / 8 - 1;
    const int64_t *bounds = offsets->buf;
    int bad = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++)
        bad |= bounds[i] < 0 || bounds[i] > bounds[i + 1] || bounds[i + 1] > data->len;
    Py_END_ALLOW_THREADS
    if (bad) {
        PyErr_SetString(PyExc_ValueError, "offsets out of order or out of bounds");
        return -1;
    }
    return 0;
}

/* Bytes order, shorter first on a common prefix: Arrow's, and Python's for str and bytes. */
static inline int compare_values(const uint8_t *a, int64_t a_length, const uint8_t *b, int64_t b_length)
{
    int order = memcmp(a, b, (size_t)(a_length < b_length ? a_length : b_length));
    return order ? order : (a_length > b_length) - (a_length < b_length);
}

PyDoc_STRVAR(add_words_doc,
             "add_words(registers, values, precision, mode)\n\n"
             "Raise the register of each 64-bit value: mode 0, the values are hashes already;\n"
             "1, integers to hash; 2, floats to hash (-0.0 folded into 0.0).");

static PyObject *add_words(PyObject *self, PyObject *args)
{
    Py_buffer registers, values;
    int precision, mode;
    if (!PyArg_ParseTuple(args, "w*y*ii", &registers, &values, &precision, &mode))
        return NULL;
    PyObject *result = NULL;
    if (check_registers(&registers, precision) < 0)
        goto done;
    if (values.len % 8 || mode < 0 || mode > 2) {
        PyErr_SetString(PyExc_ValueError, "values must be 8-byte items and mode 0, 1 or 2");
        goto done;
    }
    Py_ssize_t n = values.len / 8;
    const char *raw = values.buf;
    uint8_t *regs = registers.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        uint64_t bits;
        memcpy(&bits, raw + 8 * i, 8);
        if (mode == 2) {
            double value;
            memcpy(&value, &bits, 8);
            value = value + 0.0; /* -0.0 + 0.0 == +0.0: both zeros hash alike */
            memcpy(&bits, &value, 8);
        }
        observe(regs, precision, mode ? mix64(bits) : bits);
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&registers);
    PyBuffer_Release(&values);
    return result;
}

PyDoc_STRVAR(hash_binary_doc,
             "hash_binary(out, offsets, data) -> (lowest, highest, empties)\n\n"
             "Write the hash of each value data[offsets[i]:offsets[i+1]] into out (uint64);\n"
             "return the positions of the lowest and highest values (-1 if none) and how\n"
             "many are empty, found in the same pass.");

static PyObject *hash_binary(PyObject *self, PyObject *args)
{
    Py_buffer out, offsets, data;
    if (!PyArg_ParseTuple(args, "w*y*y*", &out, &offsets, &data))
        return NULL;
    PyObject *result = NULL;
    if (check_offsets(&offsets, &data) < 0)
        goto done;
    Py_ssize_t n = offsets.len / 8 - 1;
    if (out.len != n * 8) {
        PyErr_SetString(PyExc_ValueError, "out must hold one uint64 per value");
        goto done;
    }
    const int64_t *bounds = offsets.buf;
    const uint8_t *bytes = data.buf;
    uint64_t *hashes = out.buf;
    Py_ssize_t lowest = n ? 0 : -1, highest = lowest, empties = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        const uint8_t *value = bytes + bounds[i];
        int64_t length = bounds[i + 1] - bounds[i];
        /* The values lie one after another, but the machine's own prefetching was
         * measured to leave this loop waiting on memory: 36-byte values hashed in
         * 28 ns each without this hint, 14 ns with it. */
        PREFETCH(value + PREFETCH_AHEAD);
        hashes[i] = hash_bytes(value, length, bytes + data.len);
        empties += length == 0;
        if (compare_values(value, length, bytes + bounds[lowest], bounds[lowest + 1] - bounds[lowest]) < 0)
            lowest = i;
        else if (compare_values(value, length, bytes + bounds[highest], bounds[highest + 1] - bounds[highest]) > 0)
            highest = i;
    }
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("nnn", lowest, highest, empties);
done:
    PyBuffer_Release(&out);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return result;
}

PyDoc_STRVAR(same_values_doc,
             "same_values(offsets, data, rows, firsts) -> bool\n\n"
             "Whether each value rows[i] has the same bytes as value firsts[i] (int64 positions).");

static PyObject *same_values(PyObject *self, PyObject *args)
{
    Py_buffer offsets, data, rows, firsts;
    if (!PyArg_ParseTuple(args, "y*y*y*y*", &offsets, &data, &rows, &firsts))
        return NULL;
    PyObject *result = NULL;
    if (check_offsets(&offsets, &data) < 0)
        goto done;
    if (rows.len % 8 || rows.len != firsts.len) {
        PyErr_SetString(PyExc_ValueError, "rows and firsts must be as many int64 positions");
        goto done;
    }
    Py_ssize_t n = offsets.len / 8 - 1, m = rows.len / 8;
    const int64_t *bounds = offsets.buf, *left = rows.buf, *right = firsts.buf;
    const uint8_t *bytes = data.buf;
    int same = 1, inside = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < m && same && inside; i++) {
        int64_t a = left[i], b = right[i];
        inside = a >= 0 && a < n && b >= 0 && b < n;
        if (inside)
            same = compare_values(bytes + bounds[a], bounds[a + 1] - bounds[a], bytes + bounds[b],
                                  bounds[b + 1] - bounds[b]) == 0;
    }
    Py_END_ALLOW_THREADS
    if (!inside) {
        PyErr_SetString(PyExc_ValueError, "positions out of bounds");
        goto done;
    }
    result = PyBool_FromLong(same);
done:
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    PyBuffer_Release(&rows);
    PyBuffer_Release(&firsts);
    return result;
}

PyDoc_STRVAR(plain_ascii_doc,
             "plain_ascii(offsets, data, width) -> bool\n\n"
             "Whether offsets (int32 for width 4, int64 for 8) ascend within data and every\n"
             "byte they span is below 0x80: such text is valid UTF-8 without a closer look.");

static PyObject *plain_ascii(PyObject *self, PyObject *args)
{
    Py_buffer offsets, data;
    int width;
    if (!PyArg_ParseTuple(args, "y*y*i", &offsets, &data, &width))
        return NULL;
    PyObject *result = NULL;
    if ((width != 4 && width != 8) || offsets.len % width || offsets.len < width) {
        PyErr_SetString(PyExc_ValueError, "offsets must be at least one int32 or int64");
        goto done;
    }
    Py_ssize_t n = offsets.len / width - 1;
    int ok = 1;
    Py_BEGIN_ALLOW_THREADS
    int64_t first = 0, last = 0;
    if (width == 4) {
        const int32_t *bounds = offsets.buf;
        for (Py_ssize_t i = 0; i < n; i++)
            ok &= bounds[i] <= bounds[i + 1];
        first = bounds[0], last = bounds[n];
    } else {
        const int64_t *bounds = offsets.buf;
        for (Py_ssize_t i = 0; i < n; i++)
            ok &= bounds[i] <= bounds[i + 1];
        first = bounds[0], last = bounds[n];
    }
    ok &= first >= 0 && last <= data.len;
    if (ok) {
        /* Eight bytes at a time, OR-ed together: the compiler vectorises this loop. */
        const uint8_t *bytes = (const uint8_t *)data.buf + first;
        int64_t length = last - first, j = 0;
        uint64_t seen = 0;
        for (; j + 8 <= length; j += 8) {
            uint64_t word;
            memcpy(&word, bytes + j, 8);
            seen |= word;
        }
        for (; j < length; j++)
            seen |= bytes[j];
        ok = !(seen & 0x8080808080808080ULL);
    }
    Py_END_ALLOW_THREADS
    result = PyBool_FromLong(ok);
done:
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return result;
}

/* Exact float sums: every finite double is m * 2**(e - 1075) with an integer
 * mantissa m < 2**53 (e = 1 for subnormals), so the sum of a block is a sum of
 * integers at binary positions. Mantissas are first added per exponent in
 * 128-bit integers (one add per value), then each exponent's total is added
 * into base-2**32 bins at its position. The result is the exact sum, whatever
 * the order or grouping of the values. Squares likewise: m*m < 2**106 at
 * position 2 * (e - 1075). Four banks of per-exponent totals, taken in turn,
 * keep consecutive values of one exponent from waiting on each other's add
 * (that chain made one bank about three times slower). */
#define CHUNK (1 << 21) /* 2**21 squares below 2**106 cannot overflow 128 bits */
#define BANKS 4

static void add_piece(int64_t *bins, int64_t position, uint64_t piece, int negative)
{
    uint64_t shifted = piece << (position & 31); /* piece < 2**32: below 2**63 */
    int64_t low = (int64_t)(shifted & 0xFFFFFFFFu), high = (int64_t)(shifted >> 32);
    bins[position >> 5] += negative ? -low : low;
    bins[(position >> 5) + 1] += negative ? -high : high;
}

static void add_wide(int64_t *bins, int64_t position, unsigned __int128 magnitude, int negative)
{
    for (; magnitude; magnitude >>= 32, position += 32)
        add_piece(bins, position, (uint64_t)(magnitude & 0xFFFFFFFFu), negative);
}

static void carry(int64_t *bins, Py_ssize_t count)
{
    /* Every bin but the last into [0, 2**32); the last keeps the sign. */
    for (Py_ssize_t j = 0; j + 1 < count; j++) {
        int64_t over = bins[j] >= 0 ? bins[j] / 4294967296 : -((-bins[j] + 4294967295) / 4294967296);
        bins[j] -= over * 4294967296;
        bins[j + 1] += over;
    }
}

static inline int exponent_of(uint64_t bits)
{
    return (int)((bits >> 52) & 0x7FF);
}

static inline void add_value(__int128 *totals, unsigned __int128 *square_totals, int low, uint64_t bits)
{
    int exponent = exponent_of(bits);
    uint64_t mantissa = bits & 0xFFFFFFFFFFFFFULL;
    if (exponent)
        mantissa |= 1ULL << 52;
    else
        exponent = 1;
    int64_t sign = -(int64_t)(bits >> 63); /* 0 or -1: no branch on random signs */
    totals[exponent - low] += (__int128)(((int64_t)mantissa ^ sign) - sign);
    square_totals[exponent - low] += (unsigned __int128)mantissa * mantissa;
}

PyDoc_STRVAR(float_power_sums_doc,
             "float_power_sums(sums, squares, values)\n\n"
             "Add the exact sum of the finite float64 values, in units of 2**-1074, and of\n"
             "their squares, in units of 2**-2148, into two int64 arrays of base-2**32 digits.");

static PyObject *float_power_sums(PyObject *self, PyObject *args)
{
    Py_buffer sums, squares, values;
    if (!PyArg_ParseTuple(args, "w*w*y*", &sums, &squares, &values))
        return NULL;
    PyObject *result = NULL;
    __int128 *totals = NULL;
    unsigned __int128 *square_totals = NULL;
    if (values.len % 8 || sums.len < 72 * 8 || squares.len < 140 * 8) {
        PyErr_SetString(PyExc_ValueError, "values must be float64; sums 72 and squares 140 int64 digits");
        goto done;
    }
    Py_ssize_t n = values.len / 8;
    const uint64_t *raw = values.buf;
    int low = 2047, high = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        int exponent = exponent_of(raw[i]);
        low = exponent < low ? exponent : low;
        high = exponent > high ? exponent : high;
    }
    Py_END_ALLOW_THREADS
    if (n == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    if (high == 0x7FF) {
        PyErr_SetString(PyExc_ValueError, "values must be finite");
        goto done;
    }
    low = low ? low : 1; /* subnormals count as exponent 1 */
    high = high ? high : 1;
    Py_ssize_t span = high - low + 1;
    totals = PyMem_RawCalloc(BANKS * span, sizeof(__int128));
    square_totals = PyMem_RawCalloc(BANKS * span, sizeof(unsigned __int128));
    if (!totals || !square_totals) {
        PyErr_NoMemory();
        goto done;
    }
    int64_t *sum_bins = sums.buf, *square_bins = squares.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t start = 0; start < n; start += CHUNK) {
        Py_ssize_t stop = n - start < CHUNK ? n : start + CHUNK, i = start;
        for (; i + BANKS <= stop; i += BANKS)
            for (int bank = 0; bank < BANKS; bank++)
                add_value(totals + bank * span, square_totals + bank * span, low, raw[i + bank]);
        for (; i < stop; i++)
            add_value(totals, square_totals, low, raw[i]);
        for (Py_ssize_t slot = 0; slot < BANKS * span; slot++) {
            int64_t exponent = low + slot % span;
            if (totals[slot]) {
                int negative = totals[slot] < 0;
                unsigned __int128 magnitude = (unsigned __int128)totals[slot];
                add_wide(sum_bins, exponent - 1, negative ? -magnitude : magnitude, negative);
                totals[slot] = 0;
            }
            if (square_totals[slot]) {
                add_wide(square_bins, 2 * exponent - 2, square_totals[slot], 0);
                square_totals[slot] = 0;
            }
        }
        carry(sum_bins, 72);
        carry(square_bins, 140);
    }
    Py_END_ALLOW_THREADS
    result = Py_None;
    Py_INCREF(result);
done:
    PyMem_RawFree(totals);
    PyMem_RawFree(square_totals);
    PyBuffer_Release(&sums);
    PyBuffer_Release(&squares);
    PyBuffer_Release(&values);
    return result;
}

static PyMethodDef methods[] = {
    {"add_words", add_words, METH_VARARGS, add_words_doc},
    {"hash_binary", hash_binary, METH_VARARGS, hash_binary_doc},
    {"plain_ascii", plain_ascii, METH_VARARGS, plain_ascii_doc},
    {"same_values", same_values, METH_VARARGS, same_values_doc},
    {"float_power_sums", float_power_sums, METH_VARARGS, float_power_sums_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_native", "Fused hash + HyperLogLog kernels and exact float sums.", -1, methods,
};

PyMODINIT_FUNC PyInit__native(void)
{
    return PyModule_Create(&module);
}

/* vpbx.media._fastrelay: the relay core of a plain bridged talk in C (issue 17).
 *
 * One `Pair` relays the two directions of a bridge between two connected UDP sockets (one per
 * leg, each connected to its latched peer, so the kernel hands it only that peer's packets).
 * Per readiness event `pump_a`/`pump_b` reads a batch with recvmmsg, rewrites each plain
 * audio packet's header in place exactly as `vpbx.media.bridge._Relay.audio` and
 * `RtpSender.audio_header` would (gap reproduction, SSRC change marker, late packets dropped,
 * G.711 law conversion by table) and sends the batch on with sendmmsg. Any other packet
 * (events, RTCP, another SSRC, malformed) goes to the direction's Python `fallback(data)`, in
 * order: pending sends are flushed before, and the state is read afresh after, because the
 * Python side takes the state over around the call (`get_state`/`set_state`).
 *
 * No thread and no global state: everything runs on the event loop's thread, under the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define BATCH 32
#define BUFSIZE 2048
#define HEADER 12
#define MAX_GAP (8000 * 5)
/* batches read per readiness event: the rest waits for the next loop turn (level-triggered) */
#define ROUNDS 4

typedef struct {
    int in_fd;
    int out_fd;
    PyObject *fallback;
    int pt;       /* the source leg's audio payload type */
    int ready;    /* the source is latched with a known stream and no SSRC switch under way */
    uint32_t rx_ssrc;
    /* reception statistics of the source (vpbx.media.reception.ReceptionStats.update) */
    uint32_t max_seq;
    long long cycles;
    long long received;
    double jitter;
    int has_last;
    double last_arrival;
    uint32_t last_ts;
    double rate;
    long long received_packets;
    long long oversize;
    /* the relay (vpbx.media.bridge._Relay) */
    int has_in_ssrc;
    uint32_t in_ssrc;
    uint32_t expected_ts;
    int has_offset;
    uint32_t offset;
    int translate;
    unsigned char table[256];
    /* the destination leg's RtpSender and send counters */
    uint32_t s_ssrc;
    int s_pt;
    uint32_t seq;
    uint32_t ts;
    int talkspurt;
    long long packets;
    long long octets;
    long long sent_packets;
    long long send_errors;
    int sent_since_report;
} Direction;

typedef struct {
    PyObject_HEAD
    Direction dir[2];
    PyObject *clock;
    int active;
    /* close(): the descriptors are let go (-1) and no call reads or sends any more; the
     * numbers may already belong to another call's socket */
    int closed;
    unsigned char bufs[BATCH][BUFSIZE];
} Pair;

static void put32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Send `count` prepared packets on `d->out_fd`; a packet the kernel refuses is counted and
 * skipped (the Python path counts a failed sendto the same way). */
static void flush(Direction *d, struct mmsghdr *out, int count) {
    int done = 0;
    if (d->out_fd < 0) {
        /* closed meanwhile (unreachable: packets are only prepared while relaying, and
         * closing stops relaying): never send on a number that is no longer ours */
        d->send_errors += count;
        return;
    }
    while (done < count) {
        int n = sendmmsg(d->out_fd, out + done, (unsigned int)(count - done), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* a connected socket reports an earlier ICMP unreachable on the next send: the
             * packet itself was not sent, try it once more */
            if (errno == ECONNREFUSED &&
                sendmmsg(d->out_fd, out + done, 1, MSG_DONTWAIT) == 1) {
                d->sent_packets++;
                d->sent_since_report = 1;
                done++;
                continue;
            }
            d->send_errors++;
            done++;
            continue;
        }
        d->sent_packets += n;
        if (n > 0)
            d->sent_since_report = 1;
        done += n;
    }
}

/* The fast path for one datagram at `buf` (rewritten in place): 1 = to be sent (`*size` its
 * length), 0 = consumed without sending (late), -1 = not ours: the Python path takes it. */
static int relay(Direction *d, unsigned char *buf, Py_ssize_t size, double now) {
    if (size <= HEADER || buf[0] != 0x80 || (buf[1] & 0x7F) != d->pt || !d->ready)
        return -1;
    uint32_t sequence = ((uint32_t)buf[2] << 8) | buf[3];
    uint32_t timestamp = get32(buf + 4);
    uint32_t ssrc = get32(buf + 8);
    if (ssrc != d->rx_ssrc)
        return -1;
    int marker = buf[1] >= 0x80;

    /* ReceptionStats.update(sequence, timestamp, now) */
    uint32_t delta = (sequence - d->max_seq) & 0xFFFF;
    if (delta > 0 && delta < 0x8000) {
        if (sequence < d->max_seq)
            d->cycles += 0x10000;
        d->max_seq = sequence;
    }
    d->received++;
    if (d->has_last) {
        long long ts_delta = (long long)(uint32_t)(timestamp - d->last_ts);
        if (ts_delta >= 0x80000000LL)
            ts_delta -= 0x100000000LL;
        double dev = fabs((now - d->last_arrival) * d->rate - (double)ts_delta);
        d->jitter += (dev - d->jitter) / 16;
    }
    d->has_last = 1;
    d->last_arrival = now;
    d->last_ts = timestamp;
    d->received_packets++;

    /* _Relay.audio */
    if (!d->has_in_ssrc || ssrc != d->in_ssrc) {
        d->has_in_ssrc = 1;
        d->in_ssrc = ssrc;
        marker = 1;
    } else {
        uint32_t gap = timestamp - d->expected_ts;
        if (gap >= 0x80000000u)
            return 0; /* late or duplicated: its slot in the other stream has gone by */
        if (gap > 0 && gap <= MAX_GAP)
            d->ts += gap;
        else if (gap)
            marker = 1;
    }
    uint32_t payload = (uint32_t)(size - HEADER);
    if (d->translate) {
        unsigned char *p = buf + HEADER;
        for (uint32_t i = 0; i < payload; i++)
            p[i] = d->table[p[i]];
    }
    d->expected_ts = timestamp + payload;
    d->offset = d->ts - timestamp;
    d->has_offset = 1;

    /* RtpSender.audio_header */
    buf[0] = 0x80;
    buf[1] = (unsigned char)((marker || d->talkspurt) ? (0x80 | d->s_pt) : d->s_pt);
    buf[2] = (unsigned char)(d->seq >> 8);
    buf[3] = (unsigned char)d->seq;
    put32(buf + 4, d->ts);
    put32(buf + 8, d->s_ssrc);
    d->talkspurt = 0;
    d->seq = (d->seq + 1) & 0xFFFF;
    d->ts += payload;
    d->packets++;
    d->octets += payload;
    return 1;
}

static double clock_now(Pair *self) {
    /* a strong reference of our own: the call may re-initialise the pair */
    PyObject *clock = Py_XNewRef(self->clock);
    if (clock == NULL)
        return 0.0;
    double now = 0.0;
    PyObject *value = PyObject_CallNoArgs(clock);
    if (value == NULL) {
        PyErr_WriteUnraisable(clock);
    } else {
        now = PyFloat_AsDouble(value);
        Py_DECREF(value);
        if (now == -1.0 && PyErr_Occurred()) {
            PyErr_WriteUnraisable(clock);
            now = 0.0;
        }
    }
    Py_DECREF(clock);
    return now;
}

/* Hand one datagram (`data`, a new reference, stolen; NULL: its copy failed) to the Python
 * path; its errors are its own (reported, not raised into the loop's reader, which would lose
 * the rest of the batch). */
static void call_fallback(Direction *d, PyObject *data) {
    /* a strong reference of our own: the call may re-initialise or clear the pair */
    PyObject *fallback = Py_XNewRef(d->fallback);
    if (data == NULL || fallback == NULL) {
        if (PyErr_Occurred())
            PyErr_WriteUnraisable(fallback);
        Py_XDECREF(data);
        Py_XDECREF(fallback);
        return;
    }
    PyObject *result = PyObject_CallOneArg(fallback, data);
    Py_DECREF(data);
    if (result == NULL)
        PyErr_WriteUnraisable(fallback);
    else
        Py_DECREF(result);
    Py_DECREF(fallback);
}

static void hand_over(Direction *d, const unsigned char *buf, Py_ssize_t size) {
    call_fallback(d, PyBytes_FromStringAndSize((const char *)buf, size));
}

/* pump/feed on a pair never initialised (Pair.__new__ alone) or cleared by the garbage
 * collector would call a NULL clock or fallback: an error instead */
static int check_initialised(Pair *self) {
    if (self->clock == NULL || self->dir[0].fallback == NULL || self->dir[1].fallback == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Pair is not initialised");
        return -1;
    }
    return 0;
}

static PyObject *pump(Pair *self, int which) {
    if (self->closed)
        Py_RETURN_NONE; /* a late readiness call: the descriptor may be another socket now */
    if (check_initialised(self) < 0)
        return NULL;
    Direction *d = &self->dir[which];
    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec in_iov[BATCH], out_iov[BATCH];
    Py_INCREF(self); /* a fallback may drop the last other reference */
    for (int round = 0; round < ROUNDS; round++) {
        /* a fallback (or the clock) of the last round may have closed the pair */
        if (self->closed)
            break;
        for (int i = 0; i < BATCH; i++) {
            in_iov[i].iov_base = self->bufs[i];
            in_iov[i].iov_len = BUFSIZE;
            memset(&in[i].msg_hdr, 0, sizeof(in[i].msg_hdr));
            in[i].msg_hdr.msg_iov = &in_iov[i];
            in[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(d->in_fd, in, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0) {
            /* EAGAIN: drained; ECONNREFUSED: an ICMP unreachable for an earlier send (the
             * peer may come back); a closed descriptor: the pair is being let go */
            break;
        }
        double now = clock_now(self);
        int pending = 0;
        for (int i = 0; i < n; i++) {
            unsigned char *buf = self->bufs[i];
            Py_ssize_t size = (Py_ssize_t)in[i].msg_len;
            if (in[i].msg_hdr.msg_flags & MSG_TRUNC) {
                d->oversize++; /* larger than any RTP we use (RECV_BUFFER in session.py) */
                continue;
            }
            int verdict = self->active ? relay(d, buf, size, now) : -1;
            if (verdict == 1) {
                out_iov[pending].iov_base = buf;
                out_iov[pending].iov_len = (size_t)size;
                memset(&out[pending].msg_hdr, 0, sizeof(out[pending].msg_hdr));
                out[pending].msg_hdr.msg_iov = &out_iov[pending];
                out[pending].msg_hdr.msg_iovlen = 1;
                pending++;
            } else if (verdict < 0) {
                if (pending) {
                    flush(d, out, pending);
                    pending = 0;
                }
                hand_over(d, buf, size);
            }
        }
        if (pending)
            flush(d, out, pending);
        if (n < BATCH)
            break;
    }
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyObject *Pair_pump_a(Pair *self, PyObject *Py_UNUSED(ignored)) { return pump(self, 0); }
static PyObject *Pair_pump_b(Pair *self, PyObject *Py_UNUSED(ignored)) { return pump(self, 1); }

/* feed(which, data): one datagram of direction `which` that came some other way (the leg's
 * own socket, a test), through the same decision as a pumped one. */
static PyObject *Pair_feed(Pair *self, PyObject *args) {
    int which;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "iy*", &which, &view))
        return NULL;
    if (which < 0 || which > 1) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_ValueError, "direction must be 0 or 1");
        return NULL;
    }
    if (check_initialised(self) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    Direction *d = &self->dir[which];
    Py_INCREF(self); /* the clock or a fallback may drop the last other reference */
    if (view.len > BUFSIZE) {
        /* larger than the core's buffers (a pumped one the kernel truncates and it counts):
         * this one came whole, so the Python path decides, as for any packet not the core's,
         * and its errors are reported the same way (never raised into the loop's reader) */
        PyObject *data = PyBytes_FromStringAndSize(view.buf, view.len);
        PyBuffer_Release(&view);
        call_fallback(d, data);
        Py_DECREF(self);
        Py_RETURN_NONE;
    }
    unsigned char buf[BUFSIZE];
    Py_ssize_t size = view.len;
    memcpy(buf, view.buf, (size_t)size);
    PyBuffer_Release(&view);
    int verdict = -1;
    if (self->active) {
        /* the clock is Python code: whether the pair still relays is read after it */
        double now = clock_now(self);
        if (self->active && !self->closed)
            verdict = relay(d, buf, size, now);
    }
    if (verdict == 1) {
        struct iovec iov = {buf, (size_t)size};
        struct mmsghdr out;
        memset(&out, 0, sizeof(out));
        out.msg_hdr.msg_iov = &iov;
        out.msg_hdr.msg_iovlen = 1;
        flush(d, &out, 1);
    } else if (verdict < 0) {
        /* also a closed pair's: the datagram came whole from elsewhere, and the Python path
         * is where it goes now; the core itself does no I/O any more */
        hand_over(d, buf, size);
    }
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyObject *opt_u32(int has, uint32_t value) {
    if (!has)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(value);
}

static PyObject *Pair_get_state(Pair *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *both = PyTuple_New(2);
    if (both == NULL)
        return NULL;
    for (int i = 0; i < 2; i++) {
        Direction *d = &self->dir[i];
        PyObject *last = d->has_last ? PyFloat_FromDouble(d->last_arrival) : Py_NewRef(Py_None);
        PyObject *state = Py_BuildValue(
            "(ikkLLdNkLLNkNkkiLLLLi)", d->ready, (unsigned long)d->rx_ssrc,
            (unsigned long)d->max_seq, d->cycles, d->received, d->jitter, last,
            (unsigned long)d->last_ts, d->received_packets, d->oversize,
            opt_u32(d->has_in_ssrc, d->in_ssrc), (unsigned long)d->expected_ts,
            opt_u32(d->has_offset, d->offset), (unsigned long)d->seq, (unsigned long)d->ts,
            d->talkspurt, d->packets, d->octets, d->sent_packets, d->send_errors,
            d->sent_since_report);
        if (state == NULL) {
            Py_DECREF(both);
            return NULL;
        }
        PyTuple_SET_ITEM(both, i, state);
    }
    return both;
}

static int read_opt_u32(PyObject *obj, int *has, uint32_t *value) {
    if (obj == Py_None) {
        *has = 0;
        *value = 0;
        return 0;
    }
    unsigned long v = PyLong_AsUnsignedLongMask(obj);
    if (v == (unsigned long)-1 && PyErr_Occurred())
        return -1;
    *has = 1;
    *value = (uint32_t)v;
    return 0;
}

static PyObject *Pair_set_state(Pair *self, PyObject *args) {
    PyObject *both;
    if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &both))
        return NULL;
    if (PyTuple_GET_SIZE(both) != 2) {
        PyErr_SetString(PyExc_ValueError, "a state for each direction");
        return NULL;
    }
    Direction fresh[2];
    for (int i = 0; i < 2; i++) {
        Direction *d = &fresh[i];
        *d = self->dir[i];
        PyObject *last, *in_ssrc, *offset;
        unsigned long rx_ssrc, max_seq, last_ts, expected_ts, seq, ts;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(both, i), "pkkLLdOkLLOkOkkpLLLLp", &d->ready,
                              &rx_ssrc, &max_seq, &d->cycles, &d->received, &d->jitter, &last,
                              &last_ts, &d->received_packets, &d->oversize, &in_ssrc,
                              &expected_ts, &offset, &seq, &ts, &d->talkspurt, &d->packets,
                              &d->octets, &d->sent_packets, &d->send_errors,
                              &d->sent_since_report))
            return NULL;
        d->rx_ssrc = (uint32_t)rx_ssrc;
        d->max_seq = (uint32_t)max_seq & 0xFFFF;
        d->last_ts = (uint32_t)last_ts;
        d->expected_ts = (uint32_t)expected_ts;
        d->seq = (uint32_t)seq & 0xFFFF;
        d->ts = (uint32_t)ts;
        if (last == Py_None) {
            d->has_last = 0;
            d->last_arrival = 0.0;
        } else {
            d->has_last = 1;
            d->last_arrival = PyFloat_AsDouble(last);
            if (d->last_arrival == -1.0 && PyErr_Occurred())
                return NULL;
        }
        if (read_opt_u32(in_ssrc, &d->has_in_ssrc, &d->in_ssrc) < 0 ||
            read_opt_u32(offset, &d->has_offset, &d->offset) < 0)
            return NULL;
    }
    self->dir[0] = fresh[0];
    self->dir[1] = fresh[1];
    Py_RETURN_NONE;
}

static PyObject *Pair_stop(Pair *self, PyObject *Py_UNUSED(ignored)) {
    self->active = 0;
    Py_RETURN_NONE;
}

/* The sockets are closed (or handed back) right after this: forget their numbers, so a late
 * pump or feed cannot read from or send on a socket that reuses one (another call's). */
static PyObject *Pair_close(Pair *self, PyObject *Py_UNUSED(ignored)) {
    self->active = 0;
    self->closed = 1;
    for (int i = 0; i < 2; i++)
        self->dir[i].in_fd = self->dir[i].out_fd = -1;
    Py_RETURN_NONE;
}

static PyObject *Pair_get_active(Pair *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->active);
}

static PyObject *Pair_get_closed(Pair *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->closed);
}

/* Pair(clock, a, b): `a` and `b` are each (in_fd, out_fd, payload_type, fallback,
 * sender_ssrc, sender_payload_type, table or None, rate) for the direction from that leg.
 * Everything is parsed and checked before the pair changes: a failed (second) __init__
 * leaves it as it was, and a second one lets go of the references of the first. */
static int Pair_init(Pair *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"clock", "a", "b", NULL};
    PyObject *clock, *specs[2];
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OO!O!", kwlist, &clock, &PyTuple_Type,
                                     &specs[0], &PyTuple_Type, &specs[1]))
        return -1;
    if (!PyCallable_Check(clock)) {
        PyErr_SetString(PyExc_TypeError, "clock must be callable");
        return -1;
    }
    Direction fresh[2];
    PyObject *fallbacks[2];
    memset(fresh, 0, sizeof(fresh));
    for (int i = 0; i < 2; i++) {
        Direction *d = &fresh[i];
        PyObject *table;
        unsigned long s_ssrc;
        if (!PyArg_ParseTuple(specs[i], "iiiOkiOd", &d->in_fd, &d->out_fd, &d->pt,
                              &fallbacks[i], &s_ssrc, &d->s_pt, &table, &d->rate))
            return -1;
        if (d->in_fd < 0 || d->out_fd < 0) {
            PyErr_SetString(PyExc_ValueError, "a descriptor is not negative");
            return -1;
        }
        /* payload types are 7 bits: the header byte is built from them */
        if (d->pt < 0 || d->pt > 127 || d->s_pt < 0 || d->s_pt > 127) {
            PyErr_SetString(PyExc_ValueError, "a payload type is 0..127");
            return -1;
        }
        if (!PyCallable_Check(fallbacks[i])) {
            PyErr_SetString(PyExc_TypeError, "fallback must be callable");
            return -1;
        }
        d->s_ssrc = (uint32_t)s_ssrc;
        if (table != Py_None) {
            if (!PyBytes_Check(table) || PyBytes_GET_SIZE(table) != 256) {
                PyErr_SetString(PyExc_ValueError, "a table is 256 bytes");
                return -1;
            }
            memcpy(d->table, PyBytes_AS_STRING(table), 256);
            d->translate = 1;
        }
    }
    /* commit; the old references go last, when the pair is whole again (dropping one may
     * run arbitrary Python code) */
    PyObject *old[3] = {self->dir[0].fallback, self->dir[1].fallback, self->clock};
    for (int i = 0; i < 2; i++) {
        fresh[i].fallback = Py_NewRef(fallbacks[i]);
        self->dir[i] = fresh[i];
    }
    self->clock = Py_NewRef(clock);
    self->active = 1;
    self->closed = 0;
    for (int i = 0; i < 3; i++)
        Py_XDECREF(old[i]);
    return 0;
}

static int Pair_traverse(Pair *self, visitproc visit, void *arg) {
    Py_VISIT(self->clock);
    Py_VISIT(self->dir[0].fallback);
    Py_VISIT(self->dir[1].fallback);
    return 0;
}

static int Pair_clear(Pair *self) {
    Py_CLEAR(self->clock);
    Py_CLEAR(self->dir[0].fallback);
    Py_CLEAR(self->dir[1].fallback);
    return 0;
}

static void Pair_dealloc(Pair *self) {
    PyObject_GC_UnTrack(self);
    Pair_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef Pair_methods[] = {
    {"pump_a", (PyCFunction)Pair_pump_a, METH_NOARGS, "Relay what a's socket holds."},
    {"pump_b", (PyCFunction)Pair_pump_b, METH_NOARGS, "Relay what b's socket holds."},
    {"feed", (PyCFunction)Pair_feed, METH_VARARGS, "Relay one datagram of a direction."},
    {"get_state", (PyCFunction)Pair_get_state, METH_NOARGS, "Both directions' state."},
    {"set_state", (PyCFunction)Pair_set_state, METH_VARARGS, "Load both directions' state."},
    {"stop", (PyCFunction)Pair_stop, METH_NOARGS, "From now on every packet goes to Python."},
    {"close", (PyCFunction)Pair_close, METH_NOARGS,
     "Forget the sockets (closed next): no more reading or sending."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Pair_getset[] = {
    {"active", (getter)Pair_get_active, NULL, "Relaying (not stopped).", NULL},
    {"closed", (getter)Pair_get_closed, NULL, "The sockets are let go (close()).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject PairType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vpbx.media._fastrelay.Pair",
    .tp_basicsize = sizeof(Pair),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "Both directions of a bridged talk between two connected UDP sockets.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Pair_init,
    .tp_dealloc = (destructor)Pair_dealloc,
    .tp_traverse = (traverseproc)Pair_traverse,
    .tp_clear = (inquiry)Pair_clear,
    .tp_methods = Pair_methods,
    .tp_getset = Pair_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vpbx.media._fastrelay",
    .m_doc = "The relay core of a plain bridged talk (recvmmsg, rewrite, sendmmsg).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__fastrelay(void) {
    if (PyType_Ready(&PairType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Pair", (PyObject *)&PairType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

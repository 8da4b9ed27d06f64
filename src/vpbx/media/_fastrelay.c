/* vpbx.media._fastrelay: the relay core of a plain bridged talk in C (issue 17).
 *
 * One `Pair` relays the two directions of a bridge between two connected UDP sockets (one per
 * leg, each connected to its latched peer, so the kernel hands it only that peer's packets).
 * Each readiness event reads a batch with recvmmsg, rewrites each plain audio packet's header
 * in place exactly as `vpbx.media.bridge._Relay.audio` and `RtpSender.audio_header` would (gap
 * reproduction, SSRC change marker, late packets dropped, G.711 law conversion by table) and
 * sends the batch on with sendmmsg. Any other packet (events, RTCP, another SSRC, malformed)
 * goes to the direction's Python `fallback(data)`, in order: pending sends are flushed before,
 * and the state is read afresh after, because the Python side takes the state over around the
 * call (`get_state`/`set_state`).
 *
 * Who reads the sockets: either the event loop (`pump_a`/`pump_b` as its reader callbacks,
 * under the GIL), or an `Engine`: one thread of its own per engine that waits on all its
 * attached pairs' sockets with epoll and relays without the GIL or any Python object, so the
 * talk neither waits for the loop (its pauses) nor pays a Python call per packet. A packet
 * the thread may not relay parks its direction (its socket stays in the epoll set with no
 * events): the thread keeps that packet and the rest of its batch in the direction's stash and
 * wakes the loop (an eventfd), whose `Engine.deliver` hands the stash to the Python path in
 * order and then lets the thread read on. While the Python side holds the state (`hold`) the
 * thread parks whatever direction becomes readable. One mutex per engine guards every pair
 * state the thread touches; the thread never takes the GIL, so the loop may wait for it.
 *
 * No global state: the engine is an object its owner (the RTP port pool) keeps.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

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
    /* attached to an engine: the epoll tag of in_fd, and whether the thread parked it */
    uint64_t tag;
    int parked;
    /* the Python side is serving the stash (the direction stays parked meanwhile) */
    int owned;
    /* packets the thread read that go the Python way, in order: (uint16 length, bytes)... */
    unsigned char *stash;
    size_t stash_len;
    size_t stash_cap;
} Direction;

typedef struct EngineObject EngineObject;

typedef struct {
    PyObject_HEAD
    Direction dir[2];
    PyObject *clock;
    int active;
    /* close(): the descriptors are let go (-1) and no call reads or sends any more; the
     * numbers may already belong to another call's socket */
    int closed;
    /* attached: the engine whose thread reads the sockets (a strong reference) and the slot */
    EngineObject *engine;
    uint32_t slot;
    /* the Python side holds the state (hold/unhold): the thread does not touch it */
    int held;
    unsigned char bufs[BATCH][BUFSIZE];
} Pair;

typedef struct {
    Pair *pair; /* NULL: free */
    uint32_t gen;
} Slot;

struct EngineObject {
    PyObject_HEAD
    pthread_mutex_t mutex;
    pthread_t thread;
    int running;
    int stopping; /* under the mutex: the thread ends at its next event */
    int epfd;
    int wake_fd;   /* the thread's: written to stop it */
    int notify_fd; /* the loop's: stashes are waiting for `deliver` */
    Slot *slots;
    uint32_t nslots;
    uint32_t attached;
    /* tags of the directions whose stash waits for the Python side */
    uint64_t *pending;
    size_t npending;
    size_t cap_pending;
    /* plain packets the thread relayed (tests, the bench) */
    long long relayed;
    /* the thread's nice value asked for, and the errno of setting it (0: set) */
    int nice;
    int nice_error;
    sem_t started;
    unsigned char bufs[BATCH][BUFSIZE];
};

#define WAKE_TAG UINT64_MAX

/* The engine lock of an attached pair (NULL: not attached, nothing to lock). */
static EngineObject *lock_pair(Pair *p) {
    EngineObject *e = p->engine;
    if (e != NULL)
        pthread_mutex_lock(&e->mutex);
    return e;
}

static void unlock_engine(EngineObject *e) {
    if (e != NULL)
        pthread_mutex_unlock(&e->mutex);
}

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

/* `in` set up to receive a batch into `bufs` */
static void arm_reads(struct mmsghdr *in, struct iovec *iov, unsigned char (*bufs)[BUFSIZE]) {
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = BUFSIZE;
        memset(&in[i].msg_hdr, 0, sizeof(in[i].msg_hdr));
        in[i].msg_hdr.msg_iov = &iov[i];
        in[i].msg_hdr.msg_iovlen = 1;
    }
}

/* `buf` as the `at`th datagram of the batch `out` to send */
static void queue_send(struct mmsghdr *out, struct iovec *iov, int at, unsigned char *buf,
                       Py_ssize_t size) {
    iov[at].iov_base = buf;
    iov[at].iov_len = (size_t)size;
    memset(&out[at].msg_hdr, 0, sizeof(out[at].msg_hdr));
    out[at].msg_hdr.msg_iov = &iov[at];
    out[at].msg_hdr.msg_iovlen = 1;
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

/* One datagram of direction `d` that the Python side has (fed, or from the stash), through
 * the core's decision under the engine lock; the Python path gets it if it is not the core's.
 * `now` < 0: read the pair's clock (Python code, before the lock). */
static void decide_one(Pair *self, Direction *d, unsigned char *buf, Py_ssize_t size,
                       double now) {
    int verdict = -1;
    if (self->active) {
        if (now < 0)
            now = clock_now(self); /* Python code: whether the pair still relays is read after */
        EngineObject *e = lock_pair(self);
        if (self->active && !self->closed)
            verdict = relay(d, buf, size, now);
        if (verdict == 1) {
            struct iovec iov;
            struct mmsghdr out;
            queue_send(&out, &iov, 0, buf, size);
            flush(d, &out, 1);
        }
        unlock_engine(e);
    }
    if (verdict < 0) {
        /* also a closed pair's: the datagram came whole from elsewhere, and the Python path
         * is where it goes now; the core itself does no I/O any more */
        hand_over(d, buf, size);
    }
}

/* What the engine's thread kept for the Python path, in order (the direction is parked, or
 * the pair has left its engine); the stash is taken whole first, as the thread may not add
 * to it while the direction is parked. */
static void serve_stash(Pair *self, Direction *d) {
    for (;;) {
        EngineObject *e = lock_pair(self);
        unsigned char *stash = d->stash;
        size_t len = d->stash_len;
        d->stash = NULL;
        d->stash_len = d->stash_cap = 0;
        unlock_engine(e);
        if (stash == NULL)
            return;
        unsigned char buf[BUFSIZE];
        for (size_t at = 0; at + 2 <= len;) {
            size_t size = ((size_t)stash[at] << 8) | stash[at + 1];
            at += 2;
            if (at + size > len)
                break;
            memcpy(buf, stash + at, size);
            at += size;
            decide_one(self, d, buf, (Py_ssize_t)size, -1.0);
        }
        free(stash);
    }
}

static PyObject *pump(Pair *self, int which) {
    if (self->closed)
        Py_RETURN_NONE; /* a late readiness call: the descriptor may be another socket now */
    if (check_initialised(self) < 0)
        return NULL;
    if (self->engine != NULL)
        Py_RETURN_NONE; /* attached: the engine's thread reads the sockets */
    Direction *d = &self->dir[which];
    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec in_iov[BATCH], out_iov[BATCH];
    Py_INCREF(self); /* a fallback may drop the last other reference */
    serve_stash(self, d); /* what a former engine's thread read comes first */
    for (int round = 0; round < ROUNDS; round++) {
        /* a fallback (or the clock) of the last round may have closed the pair */
        if (self->closed)
            break;
        arm_reads(in, in_iov, self->bufs);
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
                queue_send(out, out_iov, pending++, buf, size);
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
    decide_one(self, d, buf, size, -1.0);
    Py_DECREF(self);
    Py_RETURN_NONE;
}

static PyObject *opt_u32(int has, uint32_t value) {
    if (!has)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(value);
}

static PyObject *Pair_get_state(Pair *self, PyObject *Py_UNUSED(ignored)) {
    Direction snap[2];
    EngineObject *e = lock_pair(self);
    snap[0] = self->dir[0];
    snap[1] = self->dir[1];
    unlock_engine(e);
    PyObject *both = PyTuple_New(2);
    if (both == NULL)
        return NULL;
    for (int i = 0; i < 2; i++) {
        Direction *d = &snap[i];
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

/* The stream state of a direction (what get_state/set_state carry), not its sockets, table,
 * fallback or engine bookkeeping. */
static void copy_state(Direction *to, const Direction *from) {
    to->ready = from->ready;
    to->rx_ssrc = from->rx_ssrc;
    to->max_seq = from->max_seq;
    to->cycles = from->cycles;
    to->received = from->received;
    to->jitter = from->jitter;
    to->has_last = from->has_last;
    to->last_arrival = from->last_arrival;
    to->last_ts = from->last_ts;
    to->received_packets = from->received_packets;
    to->oversize = from->oversize;
    to->has_in_ssrc = from->has_in_ssrc;
    to->in_ssrc = from->in_ssrc;
    to->expected_ts = from->expected_ts;
    to->has_offset = from->has_offset;
    to->offset = from->offset;
    to->seq = from->seq;
    to->ts = from->ts;
    to->talkspurt = from->talkspurt;
    to->packets = from->packets;
    to->octets = from->octets;
    to->sent_packets = from->sent_packets;
    to->send_errors = from->send_errors;
    to->sent_since_report = from->sent_since_report;
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
    memset(fresh, 0, sizeof(fresh));
    for (int i = 0; i < 2; i++) {
        Direction *d = &fresh[i];
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
    /* all parsed (Python code may have run): now at once, under the engine lock */
    EngineObject *e = lock_pair(self);
    copy_state(&self->dir[0], &fresh[0]);
    copy_state(&self->dir[1], &fresh[1]);
    unlock_engine(e);
    Py_RETURN_NONE;
}

static PyObject *Pair_stop(Pair *self, PyObject *Py_UNUSED(ignored)) {
    EngineObject *e = lock_pair(self);
    self->active = 0; /* the engine's thread parks whatever comes next */
    unlock_engine(e);
    Py_RETURN_NONE;
}

static void park(EngineObject *e, Direction *d, int parked) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = parked ? 0 : EPOLLIN;
    ev.data.u64 = d->tag;
    if (epoll_ctl(e->epfd, EPOLL_CTL_MOD, d->in_fd, &ev) == 0)
        d->parked = parked;
}

/* Unpark what the Python side no longer needs parked (under the engine lock). */
static void resume(EngineObject *e, Pair *p) {
    if (p->held || !p->active || p->closed)
        return;
    for (int i = 0; i < 2; i++) {
        Direction *d = &p->dir[i];
        if (d->parked && !d->owned && d->stash == NULL)
            park(e, d, 0);
    }
}

/* The engine lets the pair go: its thread no longer reads the sockets (they stay open). */
static void detach(Pair *self) {
    EngineObject *e = self->engine;
    if (e == NULL)
        return;
    pthread_mutex_lock(&e->mutex);
    Slot *slot = &e->slots[self->slot];
    slot->pair = NULL;
    slot->gen++; /* events and pending tags of the old attachment no longer resolve */
    e->attached--;
    for (int i = 0; i < 2; i++) {
        Direction *d = &self->dir[i];
        if (d->in_fd >= 0)
            epoll_ctl(e->epfd, EPOLL_CTL_DEL, d->in_fd, NULL);
        d->parked = d->owned = 0;
        d->tag = 0;
    }
    self->engine = NULL;
    self->held = 0;
    pthread_mutex_unlock(&e->mutex);
    Py_DECREF(e);    /* the pair's reference to its engine */
    Py_DECREF(self); /* the engine's reference to the pair: the caller still has one */
}

static PyObject *Pair_detach(Pair *self, PyObject *Py_UNUSED(ignored)) {
    detach(self);
    Py_RETURN_NONE;
}

static PyObject *Pair_hold(Pair *self, PyObject *Py_UNUSED(ignored)) {
    EngineObject *e = lock_pair(self);
    self->held = 1;
    unlock_engine(e);
    Py_RETURN_NONE;
}

static PyObject *Pair_unhold(Pair *self, PyObject *Py_UNUSED(ignored)) {
    EngineObject *e = lock_pair(self);
    self->held = 0;
    if (e != NULL)
        resume(e, self);
    unlock_engine(e);
    Py_RETURN_NONE;
}

/* The sockets are closed (or handed back) right after this: forget their numbers, so a late
 * pump or feed cannot read from or send on a socket that reuses one (another call's). */
static PyObject *Pair_close(Pair *self, PyObject *Py_UNUSED(ignored)) {
    detach(self);
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
    if (self->engine != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Pair is attached to an engine");
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
        free(self->dir[i].stash); /* of the first life: its packets went nowhere yet */
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
    free(self->dir[0].stash);
    free(self->dir[1].stash);
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
    {"detach", (PyCFunction)Pair_detach, METH_NOARGS,
     "Leave the engine: its thread no longer reads the sockets."},
    {"hold", (PyCFunction)Pair_hold, METH_NOARGS,
     "The Python side takes the state: the engine's thread keeps off it."},
    {"unhold", (PyCFunction)Pair_unhold, METH_NOARGS, "The engine's thread may relay again."},
    {NULL, NULL, 0, NULL},
};

static PyObject *Pair_get_attached(Pair *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->engine != NULL);
}

static PyGetSetDef Pair_getset[] = {
    {"active", (getter)Pair_get_active, NULL, "Relaying (not stopped).", NULL},
    {"attached", (getter)Pair_get_attached, NULL, "An engine's thread reads the sockets.", NULL},
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

/* --- the engine: one thread relaying the attached pairs ---------------------------------- */

static double monotonic_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* what loop.time() and time.monotonic() read */
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Keep a packet for the Python path (the thread's; its direction is parked right after). */
static int stash_add(Direction *d, const unsigned char *buf, size_t size) {
    if (d->stash_len + 2 + size > d->stash_cap) {
        size_t cap = d->stash_cap ? d->stash_cap * 2 : 4096;
        while (cap < d->stash_len + 2 + size)
            cap *= 2;
        unsigned char *grown = realloc(d->stash, cap);
        if (grown == NULL)
            return -1;
        d->stash = grown;
        d->stash_cap = cap;
    }
    d->stash[d->stash_len] = (unsigned char)(size >> 8);
    d->stash[d->stash_len + 1] = (unsigned char)size;
    memcpy(d->stash + d->stash_len + 2, buf, size);
    d->stash_len += 2 + size;
    return 0;
}

static int push_pending(EngineObject *e, uint64_t tag) {
    if (e->npending == e->cap_pending) {
        size_t cap = e->cap_pending ? e->cap_pending * 2 : 64;
        uint64_t *grown = realloc(e->pending, cap * sizeof(uint64_t));
        if (grown == NULL)
            return -1;
        e->pending = grown;
        e->cap_pending = cap;
    }
    e->pending[e->npending++] = tag;
    return 0;
}

/* The pair and direction of an epoll tag (slot << 1 | direction, generation << 32), if that
 * attachment still stands (under the lock). */
static Pair *resolve(EngineObject *e, uint64_t tag, int *which) {
    uint32_t slot = (uint32_t)((tag >> 1) & 0x7FFFFFFFu);
    uint32_t gen = (uint32_t)(tag >> 32);
    if (slot >= e->nslots || e->slots[slot].pair == NULL || e->slots[slot].gen != gen)
        return NULL;
    *which = (int)(tag & 1);
    return e->slots[slot].pair;
}

/* One readiness event, by the thread under the lock; 1: a stash now waits for the loop. */
static int engine_serve(EngineObject *e, uint64_t tag) {
    int which;
    Pair *p = resolve(e, tag, &which);
    if (p == NULL)
        return 0;
    Direction *d = &p->dir[which];
    if (d->parked)
        return 0; /* an event of the same epoll_wait, before the park */
    if (p->held || !p->active || p->closed || d->owned || d->stash != NULL) {
        park(e, d, 1);
        return 0;
    }
    struct mmsghdr in[BATCH], out[BATCH];
    struct iovec in_iov[BATCH], out_iov[BATCH];
    for (int round = 0; round < ROUNDS; round++) {
        arm_reads(in, in_iov, e->bufs);
        int n = recvmmsg(d->in_fd, in, BATCH, MSG_DONTWAIT, NULL);
        if (n <= 0)
            return 0; /* as in pump */
        double now = monotonic_now();
        int pending = 0, diverted = 0;
        for (int i = 0; i < n; i++) {
            unsigned char *buf = e->bufs[i];
            Py_ssize_t size = (Py_ssize_t)in[i].msg_len;
            if (in[i].msg_hdr.msg_flags & MSG_TRUNC) {
                d->oversize++;
                continue;
            }
            if (diverted) {
                /* after one for Python, the rest of the batch too: order is kept */
                stash_add(d, buf, (size_t)size);
                continue;
            }
            int verdict = relay(d, buf, size, now);
            if (verdict == 1) {
                queue_send(out, out_iov, pending++, buf, size);
            } else if (verdict < 0) {
                if (pending) {
                    flush(d, out, pending);
                    e->relayed += pending;
                    pending = 0;
                }
                stash_add(d, buf, (size_t)size);
                diverted = 1;
            }
        }
        if (pending) {
            flush(d, out, pending);
            e->relayed += pending;
        }
        if (diverted) {
            if (push_pending(e, tag) < 0) {
                /* out of memory: the stash is lost, relaying goes on */
                free(d->stash);
                d->stash = NULL;
                d->stash_len = d->stash_cap = 0;
                return 0;
            }
            park(e, d, 1);
            return 1;
        }
        if (n < BATCH)
            return 0;
    }
    return 0;
}

static void *engine_main(void *arg) {
    EngineObject *e = arg;
    struct epoll_event events[64];
    /* before the loop's thread: a packet waits for the loop only while the relay is busy */
    e->nice_error = 0;
    if (e->nice != 0 &&
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), e->nice) < 0)
        e->nice_error = errno;
    sem_post(&e->started);
    for (;;) {
        int n = epoll_wait(e->epfd, events, 64, -1);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return NULL;
        }
        int notify = 0;
        for (int i = 0; i < n; i++) {
            /* the lock per event, not per wait: the loop's get_state/hold wait one event at most */
            pthread_mutex_lock(&e->mutex);
            int stop = e->stopping;
            if (!stop && events[i].data.u64 != WAKE_TAG)
                notify |= engine_serve(e, events[i].data.u64);
            pthread_mutex_unlock(&e->mutex);
            if (stop)
                return NULL;
        }
        if (notify) {
            uint64_t one = 1;
            /* EAGAIN: the counter is full, the loop is woken anyway */
            if (write(e->notify_fd, &one, sizeof(one)) < 0)
                continue;
        }
    }
}

static void engine_stop(EngineObject *self) {
    if (!self->running)
        return;
    pthread_mutex_lock(&self->mutex);
    self->stopping = 1;
    pthread_mutex_unlock(&self->mutex);
    uint64_t one = 1;
    if (write(self->wake_fd, &one, sizeof(one)) < 0) {
        /* a full counter wakes it as well */
    }
    /* the thread takes no GIL: joining with it held cannot deadlock, and is short */
    pthread_join(self->thread, NULL);
    self->running = 0;
}

/* Engine(nice=0): `nice` is the thread's nice value (lower: scheduled before the process's
 * other threads; it needs CAP_SYS_NICE to go below the process's, see `nice_error`). */
static PyObject *Engine_new(PyTypeObject *type, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"nice", NULL};
    int nice = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|i", kwlist, &nice))
        return NULL;
    if (nice < -20 || nice > 19) {
        PyErr_SetString(PyExc_ValueError, "nice is -20..19");
        return NULL;
    }
    EngineObject *self = (EngineObject *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->epfd = self->wake_fd = self->notify_fd = -1;
    self->nice = nice;
    pthread_mutex_init(&self->mutex, NULL);
    sem_init(&self->started, 0, 0);
    self->epfd = epoll_create1(EPOLL_CLOEXEC);
    self->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    self->notify_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    ev.data.u64 = WAKE_TAG;
    if (self->epfd < 0 || self->wake_fd < 0 || self->notify_fd < 0 ||
        epoll_ctl(self->epfd, EPOLL_CTL_ADD, self->wake_fd, &ev) < 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(self);
        return NULL;
    }
    /* no signal for this thread: Python's handlers expect the main thread */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&self->thread, NULL, engine_main, self);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        errno = rc;
        PyErr_SetFromErrno(PyExc_OSError);
        Py_DECREF(self);
        return NULL;
    }
    self->running = 1;
    /* its priority is set (or refused) before anyone asks */
    while (sem_wait(&self->started) < 0 && errno == EINTR)
        ;
    return (PyObject *)self;
}

static PyObject *Engine_attach(EngineObject *self, PyObject *arg) {
    if (!PyObject_TypeCheck(arg, &PairType)) {
        PyErr_SetString(PyExc_TypeError, "a Pair");
        return NULL;
    }
    Pair *p = (Pair *)arg;
    if (check_initialised(p) < 0)
        return NULL;
    if (p->closed || p->engine != NULL || !self->running) {
        PyErr_SetString(PyExc_ValueError, "the pair is closed or attached, or the engine closed");
        return NULL;
    }
    pthread_mutex_lock(&self->mutex);
    uint32_t slot = 0;
    while (slot < self->nslots && self->slots[slot].pair != NULL)
        slot++;
    if (slot == self->nslots) {
        uint32_t count = self->nslots ? self->nslots * 2 : 64;
        Slot *grown = realloc(self->slots, count * sizeof(Slot));
        if (grown == NULL) {
            pthread_mutex_unlock(&self->mutex);
            return PyErr_NoMemory();
        }
        memset(grown + self->nslots, 0, (count - self->nslots) * sizeof(Slot));
        self->slots = grown;
        self->nslots = count;
    }
    Slot *s = &self->slots[slot];
    struct epoll_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN;
    for (int i = 0; i < 2; i++) {
        Direction *d = &p->dir[i];
        d->tag = ((uint64_t)s->gen << 32) | ((uint64_t)slot << 1) | (uint64_t)i;
        d->parked = d->owned = 0;
        ev.data.u64 = d->tag;
        if (epoll_ctl(self->epfd, EPOLL_CTL_ADD, d->in_fd, &ev) < 0) {
            int error = errno;
            if (i == 1)
                epoll_ctl(self->epfd, EPOLL_CTL_DEL, p->dir[0].in_fd, NULL);
            pthread_mutex_unlock(&self->mutex);
            errno = error;
            return PyErr_SetFromErrno(PyExc_OSError);
        }
    }
    s->pair = p;
    p->slot = slot;
    p->engine = self;
    p->held = 0;
    self->attached++;
    Py_INCREF(p);
    Py_INCREF(self);
    pthread_mutex_unlock(&self->mutex);
    Py_RETURN_NONE;
}

/* The loop's reader of notify_fd: every waiting stash to the Python path, in order. */
static PyObject *Engine_deliver(EngineObject *self, PyObject *Py_UNUSED(ignored)) {
    uint64_t count;
    if (read(self->notify_fd, &count, sizeof(count)) < 0) {
        /* EAGAIN: nothing new since the last call; what is pending is served anyway */
    }
    pthread_mutex_lock(&self->mutex);
    uint64_t *tags = self->pending;
    size_t n = self->npending;
    self->pending = NULL;
    self->npending = self->cap_pending = 0;
    pthread_mutex_unlock(&self->mutex);
    for (size_t i = 0; i < n; i++) {
        int which = 0;
        pthread_mutex_lock(&self->mutex);
        Pair *p = resolve(self, tags[i], &which);
        if (p != NULL) {
            Py_INCREF(p);
            p->dir[which].owned = 1;
        }
        pthread_mutex_unlock(&self->mutex);
        if (p == NULL)
            continue; /* left the engine meanwhile: its drain serves the stash */
        serve_stash(p, &p->dir[which]);
        EngineObject *e = lock_pair(p);
        p->dir[which].owned = 0;
        if (e != NULL)
            resume(e, p);
        unlock_engine(e);
        Py_DECREF(p);
    }
    free(tags);
    Py_RETURN_NONE;
}

/* Let every attached pair go and stop the thread (also at deallocation, when none is). */
static PyObject *Engine_close(EngineObject *self, PyObject *Py_UNUSED(ignored)) {
    for (uint32_t slot = 0; slot < self->nslots; slot++) {
        Pair *p = self->slots[slot].pair;
        if (p != NULL) {
            Py_INCREF(p);
            detach(p);
            Py_DECREF(p);
        }
    }
    engine_stop(self);
    Py_RETURN_NONE;
}

static void Engine_dealloc(EngineObject *self) {
    engine_stop(self); /* no pair is attached: each would hold a reference */
    if (self->epfd >= 0)
        close(self->epfd);
    if (self->wake_fd >= 0)
        close(self->wake_fd);
    if (self->notify_fd >= 0)
        close(self->notify_fd);
    free(self->slots);
    free(self->pending);
    pthread_mutex_destroy(&self->mutex);
    sem_destroy(&self->started);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *Engine_get_notify_fd(EngineObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromLong(self->notify_fd);
}

static PyObject *Engine_get_attached(EngineObject *self, void *Py_UNUSED(closure)) {
    pthread_mutex_lock(&self->mutex);
    long attached = (long)self->attached;
    pthread_mutex_unlock(&self->mutex);
    return PyLong_FromLong(attached);
}

static PyObject *Engine_get_relayed(EngineObject *self, void *Py_UNUSED(closure)) {
    pthread_mutex_lock(&self->mutex);
    long long relayed = self->relayed;
    pthread_mutex_unlock(&self->mutex);
    return PyLong_FromLongLong(relayed);
}

static PyObject *Engine_get_running(EngineObject *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->running);
}

static PyObject *Engine_get_nice_error(EngineObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromLong(self->nice_error);
}

static PyMethodDef Engine_methods[] = {
    {"attach", (PyCFunction)Engine_attach, METH_O, "The thread reads the pair's sockets."},
    {"deliver", (PyCFunction)Engine_deliver, METH_NOARGS,
     "Hand what waits for the Python path to it (the loop's reader of notify_fd)."},
    {"close", (PyCFunction)Engine_close, METH_NOARGS, "Let every pair go, stop the thread."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Engine_getset[] = {
    {"notify_fd", (getter)Engine_get_notify_fd, NULL, "Readable: call deliver().", NULL},
    {"attached", (getter)Engine_get_attached, NULL, "Pairs the thread relays.", NULL},
    {"relayed", (getter)Engine_get_relayed, NULL, "Packets the thread relayed.", NULL},
    {"running", (getter)Engine_get_running, NULL, "The thread runs (not closed).", NULL},
    {"nice_error", (getter)Engine_get_nice_error, NULL,
     "The errno of setting the thread's nice value (0: set, or none asked).", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyTypeObject EngineType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "vpbx.media._fastrelay.Engine",
    .tp_basicsize = sizeof(EngineObject),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A thread that relays the plain talk of attached pairs, without the GIL.",
    .tp_new = Engine_new,
    .tp_dealloc = (destructor)Engine_dealloc,
    .tp_methods = Engine_methods,
    .tp_getset = Engine_getset,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "vpbx.media._fastrelay",
    .m_doc = "The relay core of a plain bridged talk (recvmmsg, rewrite, sendmmsg).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__fastrelay(void) {
    if (PyType_Ready(&PairType) < 0 || PyType_Ready(&EngineType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "Pair", (PyObject *)&PairType) < 0 ||
        PyModule_AddObjectRef(m, "Engine", (PyObject *)&EngineType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}

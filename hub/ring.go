package hub

import (
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is an io_uring through which one writer sends to many sockets with
// one system call: it queues an IORING_OP_SEND (one buffer) or
// IORING_OP_SENDMSG (several) per socket, then submit enters the kernel
// once for all of them and reaps their completions. On a paravirtualized
// VM, where every entry to the kernel is expensive, that cut the server's
// CPU per broadcast by a quarter to two fifths; see docs/WEBSOCKETS.md.
//
// The ring is written with raw system calls (no library) and is used by
// one goroutine at a time: its writer. The sends carry MSG_DONTWAIT, so a
// full socket buffer completes with -EAGAIN at once, as send(2) would; the
// kernel never parks a send in the ring.
type ring struct {
	fd             int
	mem, sqeMem    []byte // the mmapped rings and SQE array
	sqes           []sqe
	sqHead, sqTail *uint32
	cqHead, cqTail *uint32
	sqMask, cqMask uint32
	cqes           []cqe
	queued         uint32 // SQEs queued since the last submit
}

// The kernel's ABI (include/uapi/linux/io_uring.h).
const (
	ringSetupSubmitAll = 1 << 7 // a send that fails to prepare does not stop the rest
	ringEnterGetEvents = 1 << 0
	ringFeatSingleMmap = 1 << 0
	ringOpSendmsg      = 9
	ringOpSend         = 26
	ringOffSQRing      = 0
	ringOffSQEs        = 0x10000000
)

// ringParams is struct io_uring_params.
type ringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  [10]uint32 // head tail ring_mask ring_entries flags dropped array resv1 user_addr(u64)
	cqOff                                                                  [10]uint32 // head tail ring_mask ring_entries overflow cqes flags resv1 user_addr(u64)
}

// sqe is struct io_uring_sqe (64 bytes).
type sqe struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, msgFlags uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	spliceFDIn    int32
	addr3, pad    uint64
}

// cqe is struct io_uring_cqe (16 bytes).
type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

// The structs' sizes are the kernel's.
var (
	_ [120 - unsafe.Sizeof(ringParams{})]byte
	_ [unsafe.Sizeof(ringParams{}) - 120]byte
	_ [64 - unsafe.Sizeof(sqe{})]byte
	_ [unsafe.Sizeof(sqe{}) - 64]byte
	_ [16 - unsafe.Sizeof(cqe{})]byte
	_ [unsafe.Sizeof(cqe{}) - 16]byte
)

// ringSetupCall is io_uring_setup(2); a variable so that tests can make
// io_uring unavailable.
var ringSetupCall = func(entries uint32, p *ringParams) (uintptr, unix.Errno) {
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(p)), 0)
	return fd, errno
}

// errRingUnavailable wraps the errors that mean this process may not use
// io_uring at all (no kernel support, a seccomp filter, io_uring_disabled).
var errRingUnavailable = errors.New("io_uring unavailable")

// newRing sets up a ring of entries SQEs (a power of two) and twice as many
// completions.
func newRing(entries uint32) (*ring, error) {
	p := ringParams{flags: ringSetupSubmitAll}
	fd, errno := ringSetupCall(entries, &p)
	switch errno {
	case 0:
	case unix.ENOSYS, unix.EPERM, unix.EACCES, unix.EINVAL:
		// No io_uring in the kernel; forbidden by a seccomp filter or by
		// kernel.io_uring_disabled; a kernel older than 5.18 (SUBMIT_ALL).
		return nil, fmt.Errorf("%w: io_uring_setup: %w", errRingUnavailable, errno)
	default:
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &ring{fd: int(fd)}
	if p.features&ringFeatSingleMmap == 0 {
		r.close()
		return nil, fmt.Errorf("%w: the kernel is older than 5.4", errRingUnavailable)
	}
	size := max(p.sqOff[6]+p.sqEntries*4, p.cqOff[5]+p.cqEntries*uint32(unsafe.Sizeof(cqe{})))
	mem, err := unix.Mmap(r.fd, ringOffSQRing, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	r.mem = mem
	r.sqeMem, err = unix.Mmap(r.fd, ringOffSQEs, int(p.sqEntries)*int(unsafe.Sizeof(sqe{})), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&r.sqeMem[0])), p.sqEntries)
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqMask = u32(p.sqOff[0]), u32(p.sqOff[1]), *u32(p.sqOff[2])
	r.cqHead, r.cqTail, r.cqMask = u32(p.cqOff[0]), u32(p.cqOff[1]), *u32(p.cqOff[2])
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&mem[p.cqOff[5]])), p.cqEntries)
	array := unsafe.Slice(u32(p.sqOff[6]), p.sqEntries)
	for i := range array {
		array[i] = uint32(i) // slot i is always SQE i
	}
	return r, nil
}

// room reports how many more sends fit before submit.
func (r *ring) room() int { return len(r.sqes) - int(r.queued) }

// send queues a send of p to fd, tagged. The caller keeps p (and fd) alive
// until submit has returned, and checks room first.
func (r *ring) send(fd int, p []byte, tag uint64) {
	tail := *r.sqTail
	r.sqes[tail&r.sqMask] = sqe{
		opcode:   ringOpSend,
		fd:       int32(fd),
		addr:     uint64(uintptr(unsafe.Pointer(unsafe.SliceData(p)))),
		len:      uint32(len(p)),
		msgFlags: unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL,
		userData: tag,
	}
	atomic.StoreUint32(r.sqTail, tail+1)
	r.queued++
}

// sendmsg queues a sendmsg of msg (its iovecs) to fd, tagged. The caller
// keeps msg, its iovecs and their buffers alive until submit has returned,
// and checks room first.
func (r *ring) sendmsg(fd int, msg *unix.Msghdr, tag uint64) {
	tail := *r.sqTail
	r.sqes[tail&r.sqMask] = sqe{
		opcode:   ringOpSendmsg,
		fd:       int32(fd),
		addr:     uint64(uintptr(unsafe.Pointer(msg))),
		len:      1,
		msgFlags: unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL,
		userData: tag,
	}
	atomic.StoreUint32(r.sqTail, tail+1)
	r.queued++
}

// resNotSent is the result submit gives a send it could not submit: nothing
// of it was written, and the caller may write it another way.
const resNotSent = -int32(unix.ECANCELED)

// submit submits the queued sends with one io_uring_enter and reaps their
// completions, calling done with each send's tag and result: bytes written
// or -errno. The sends do not block, so they have completed when the enter
// returns; if some have not, submit waits for them. If the ring fails,
// submit calls done with resNotSent for the sends never submitted and
// returns the error: the sends it reported nothing for are of unknown fate,
// and the ring must not be used again.
//
// The submitting enter is a raw system call, like the hub's send(2): it
// does not block, and the scheduler's bookkeeping would cost more than the
// sends do. A wait for stragglers, which may block, is an ordinary one.
func (r *ring) submit(done func(tag uint64, res int32)) error {
	toSubmit, pending := r.queued, r.queued
	r.queued = 0
	var failed error
	for pending > 0 {
		var n uintptr
		var errno unix.Errno
		if toSubmit > 0 {
			n, _, errno = unix.RawSyscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(toSubmit), 0, 0, 0, 0)
		} else {
			n, _, errno = unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), 0, uintptr(pending), ringEnterGetEvents, 0, 0)
		}
		switch {
		case errno == 0 && toSubmit > 0 && n == 0:
			failed = errors.New("io_uring_enter submitted nothing")
		case errno == 0 && toSubmit > 0:
			toSubmit -= uint32(n)
		case errno != 0 && errno != unix.EINTR && errno != unix.EAGAIN && errno != unix.EBUSY:
			failed = fmt.Errorf("io_uring_enter: %w", errno)
		}
		head, tail := *r.cqHead, atomic.LoadUint32(r.cqTail)
		for ; head != tail; head++ {
			c := r.cqes[head&r.cqMask]
			done(c.userData, c.res)
			pending--
		}
		atomic.StoreUint32(r.cqHead, head)
		if failed != nil {
			break
		}
	}
	if failed == nil {
		return nil
	}
	// Take back what the kernel did not consume: those sends were not made.
	tail := *r.sqTail
	for i := tail - toSubmit; i != tail; i++ {
		done(r.sqes[i&r.sqMask].userData, resNotSent)
	}
	atomic.StoreUint32(r.sqTail, tail-toSubmit)
	return failed
}

// close unmaps the ring and closes its descriptor.
func (r *ring) close() {
	if r.sqeMem != nil {
		unix.Munmap(r.sqeMem)
	}
	if r.mem != nil {
		unix.Munmap(r.mem)
	}
	unix.Close(r.fd)
}

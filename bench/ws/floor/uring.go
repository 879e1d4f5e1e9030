package main

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ring is a minimal io_uring (raw system calls, no library): one submission
// queue of send SQEs and its completion queue. It is used by one thread.
type ring struct {
	fd             int
	mem            []byte // the SQ and CQ rings (one mapping)
	sqes           []sqe
	sqHead, sqTail *uint32
	sqMask         uint32
	cqHead, cqTail *uint32
	cqMask         uint32
	cqes           []cqe
	pending        uint32 // sends queued, not yet submitted
}

// The kernel's ABI (include/uapi/linux/io_uring.h).
const (
	setupSubmitAll    = 1 << 7
	setupSingleIssuer = 1 << 12
	setupDeferTaskrun = 1 << 13
	enterGetEvents    = 1 << 0
	featSingleMmap    = 1 << 0
	opSend            = 26
	offSQRing         = 0
	offSQEs           = 0x10000000
	sqeSize, cqeSize  = 64, 16
	paramsSize        = 120
	sqOffArray        = 6 // the index of array in sqOff (u32s)
)

type params struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFD uint32
	resv                                                                   [3]uint32
	sqOff                                                                  [10]uint32 // head tail ring_mask ring_entries flags dropped array resv1 user_addr(2)
	cqOff                                                                  [10]uint32 // head tail ring_mask ring_entries overflow cqes flags resv1 user_addr(2)
}

type sqe struct {
	opcode, flags uint8
	ioprio        uint16
	fd            int32
	off, addr     uint64
	len, opFlags  uint32
	userData      uint64
	bufIndex      uint16
	personality   uint16
	spliceFDIn    int32
	addr3, pad    uint64
}

type cqe struct {
	userData uint64
	res      int32
	flags    uint32
}

var _ [paramsSize - unsafe.Sizeof(params{})]byte
var _ [sqeSize - unsafe.Sizeof(sqe{})]byte
var _ [cqeSize - unsafe.Sizeof(cqe{})]byte

// newRing sets up a ring of entries SQEs (a power of two). The calling
// thread becomes its only submitter: the ring runs its completions'
// task work only when this thread asks for events (DEFER_TASKRUN).
func newRing(entries uint32) (*ring, error) {
	p := params{flags: setupSubmitAll | setupSingleIssuer | setupDeferTaskrun}
	fd, _, errno := unix.Syscall(unix.SYS_IO_URING_SETUP, uintptr(entries), uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil, fmt.Errorf("io_uring_setup: %w", errno)
	}
	r := &ring{fd: int(fd)}
	if p.features&featSingleMmap == 0 {
		r.close()
		return nil, fmt.Errorf("io_uring: kernel lacks IORING_FEAT_SINGLE_MMAP")
	}
	sqLen := int(p.sqOff[sqOffArray] + p.sqEntries*4)
	cqLen := int(p.cqOff[5] + p.cqEntries*cqeSize)
	size := max(sqLen, cqLen)
	mem, err := unix.Mmap(r.fd, offSQRing, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring mmap: %w", err)
	}
	r.mem = mem
	sqeMem, err := unix.Mmap(r.fd, offSQEs, int(p.sqEntries)*sqeSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_POPULATE)
	if err != nil {
		r.close()
		return nil, fmt.Errorf("io_uring mmap sqes: %w", err)
	}
	r.sqes = unsafe.Slice((*sqe)(unsafe.Pointer(&sqeMem[0])), p.sqEntries)
	u32 := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&mem[off])) }
	r.sqHead, r.sqTail, r.sqMask = u32(p.sqOff[0]), u32(p.sqOff[1]), *u32(p.sqOff[2])
	r.cqHead, r.cqTail, r.cqMask = u32(p.cqOff[0]), u32(p.cqOff[1]), *u32(p.cqOff[2])
	r.cqes = unsafe.Slice((*cqe)(unsafe.Pointer(&mem[p.cqOff[5]])), p.cqEntries)
	array := unsafe.Slice(u32(p.sqOff[sqOffArray]), p.sqEntries)
	for i := range array {
		array[i] = uint32(i) // slot i is SQE i, always
	}
	return r, nil
}

// send queues a send of b to fd; the caller keeps b alive until its
// completion is reaped and queues at most entries sends between submits.
func (r *ring) send(fd int, b []byte, userData uint64) {
	tail := *r.sqTail
	s := &r.sqes[tail&r.sqMask]
	*s = sqe{opcode: opSend, fd: int32(fd), addr: uint64(uintptr(unsafe.Pointer(&b[0]))), len: uint32(len(b)), opFlags: unix.MSG_DONTWAIT | unix.MSG_NOSIGNAL, userData: userData}
	atomic.StoreUint32(r.sqTail, tail+1)
	r.pending++
}

// submit submits the queued sends with one io_uring_enter and waits for all
// their completions, calling done for each.
func (r *ring) submit(done func(userData uint64, res int32)) error {
	n := r.pending
	for n > 0 {
		got, _, errno := unix.Syscall6(unix.SYS_IO_URING_ENTER, uintptr(r.fd), uintptr(r.pending), uintptr(n), enterGetEvents, 0, 0)
		if errno == unix.EINTR {
			continue
		}
		if errno != 0 {
			return fmt.Errorf("io_uring_enter: %w", errno)
		}
		r.pending -= uint32(got)
		head, tail := *r.cqHead, atomic.LoadUint32(r.cqTail)
		for ; head != tail; head++ {
			c := &r.cqes[head&r.cqMask]
			done(c.userData, c.res)
			n--
		}
		atomic.StoreUint32(r.cqHead, head)
	}
	return nil
}

func (r *ring) close() {
	if r.mem != nil {
		unix.Munmap(r.mem)
	}
	if r.sqes != nil {
		unix.Munmap(unsafe.Slice((*byte)(unsafe.Pointer(&r.sqes[0])), len(r.sqes)*sqeSize))
	}
	unix.Close(r.fd)
}

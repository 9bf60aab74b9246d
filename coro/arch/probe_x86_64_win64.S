/*
 * Test support for x86-64, Microsoft x64 ABI: spindle_probe_callee_saved(fn [rcx],
 * arg [rdx], seed [r8]).
 * Result bits: 0 rbx, 1 rbp, 2 rdi, 3 rsi, 4 r12, 5 r13, 6 r14, 7 r15,
 *              8-17 xmm6-xmm15.
 * Pattern for general register i (in that order): seed + (i + 1) * K, with
 * K = 0x9e3779b97f4a7c15; xmm register j gets p = seed + (j + 9) * K in its low
 * and ~p in its high 64 bits, so that both halves are checked.
 *
 * Frame, below the eight pushed registers (rsp 16-aligned after the sub):
 *   0x30..0xcf  the caller's xmm6-xmm15
 *   0x20        seed
 *   0x00..0x1f  shadow space for fn
 */
    .text
    .globl  spindle_probe_callee_saved
    .def    spindle_probe_callee_saved; .scl 2; .type 32; .endef
    .p2align 4
    .seh_proc spindle_probe_callee_saved
spindle_probe_callee_saved:
    .irp    reg, rbp, rbx, rdi, rsi, r12, r13, r14, r15
    pushq   %\reg
    .seh_pushreg %\reg
    .endr
    subq    $0xd8, %rsp
    .seh_stackalloc 0xd8
    movaps  %xmm6, 0x30(%rsp)
    .seh_savexmm %xmm6, 0x30
    movaps  %xmm7, 0x40(%rsp)
    .seh_savexmm %xmm7, 0x40
    movaps  %xmm8, 0x50(%rsp)
    .seh_savexmm %xmm8, 0x50
    movaps  %xmm9, 0x60(%rsp)
    .seh_savexmm %xmm9, 0x60
    movaps  %xmm10, 0x70(%rsp)
    .seh_savexmm %xmm10, 0x70
    movaps  %xmm11, 0x80(%rsp)
    .seh_savexmm %xmm11, 0x80
    movaps  %xmm12, 0x90(%rsp)
    .seh_savexmm %xmm12, 0x90
    movaps  %xmm13, 0xa0(%rsp)
    .seh_savexmm %xmm13, 0xa0
    movaps  %xmm14, 0xb0(%rsp)
    .seh_savexmm %xmm14, 0xb0
    movaps  %xmm15, 0xc0(%rsp)
    .seh_savexmm %xmm15, 0xc0
    .seh_endprologue
    movq    %r8, 0x20(%rsp)

    movq    %rcx, %rax              /* fn */
    movq    %rdx, %rcx              /* its argument */
    movabsq $0x9e3779b97f4a7c15, %r10
    movq    %r8, %r9
    .irp    reg, rbx, rbp, rdi, rsi, r12, r13, r14, r15
    addq    %r10, %r9
    movq    %r9, %\reg
    .endr
    .irp    reg, xmm6, xmm7, xmm8, xmm9, xmm10, xmm11, xmm12, xmm13, xmm14, xmm15
    addq    %r10, %r9
    movq    %r9, %\reg
    movq    %r9, %r11
    notq    %r11
    movq    %r11, %xmm0
    punpcklqdq %xmm0, %\reg         /* low: p, high: ~p */
    .endr

    callq   *%rax

    /* rax = bits of the registers that no longer hold their pattern */
    xorl    %eax, %eax
    movq    0x20(%rsp), %r9
    movabsq $0x9e3779b97f4a7c15, %r10
    .macro  spindle_check reg, bit
    addq    %r10, %r9
    cmpq    %r9, %\reg
    je      1f
    orq     $(1 << \bit), %rax
1:
    .endm
    .macro  spindle_check_xmm reg, bit
    addq    %r10, %r9
    movq    %r9, %xmm0
    movq    %r9, %r11
    notq    %r11
    movq    %r11, %xmm1
    punpcklqdq %xmm1, %xmm0
    pcmpeqd %\reg, %xmm0
    pmovmskb %xmm0, %r11d
    cmpl    $0xffff, %r11d
    je      1f
    orq     $(1 << \bit), %rax
1:
    .endm
    spindle_check rbx, 0
    spindle_check rbp, 1
    spindle_check rdi, 2
    spindle_check rsi, 3
    spindle_check r12, 4
    spindle_check r13, 5
    spindle_check r14, 6
    spindle_check r15, 7
    spindle_check_xmm xmm6, 8
    spindle_check_xmm xmm7, 9
    spindle_check_xmm xmm8, 10
    spindle_check_xmm xmm9, 11
    spindle_check_xmm xmm10, 12
    spindle_check_xmm xmm11, 13
    spindle_check_xmm xmm12, 14
    spindle_check_xmm xmm13, 15
    spindle_check_xmm xmm14, 16
    spindle_check_xmm xmm15, 17

    movaps  0x30(%rsp), %xmm6
    movaps  0x40(%rsp), %xmm7
    movaps  0x50(%rsp), %xmm8
    movaps  0x60(%rsp), %xmm9
    movaps  0x70(%rsp), %xmm10
    movaps  0x80(%rsp), %xmm11
    movaps  0x90(%rsp), %xmm12
    movaps  0xa0(%rsp), %xmm13
    movaps  0xb0(%rsp), %xmm14
    movaps  0xc0(%rsp), %xmm15
    addq    $0xd8, %rsp
    .irp    reg, r15, r14, r13, r12, rsi, rdi, rbx, rbp
    popq    %\reg
    .endr
    ret
    .seh_endproc

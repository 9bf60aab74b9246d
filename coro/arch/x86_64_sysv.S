/*
 * spindle context switch for x86-64, System V ABI (Linux, BSD, macOS).
 *
 * The ABI makes rbx, rbp, r12-r15 and rsp callee-saved, plus the control bits of
 * MXCSR and the x87 control word. spindle_switch_context pushes exactly that onto
 * the running stack and stores the stack pointer in Context::sp (offset 0), then
 * loads the other context's stack pointer and pops its frame:
 *
 *            higher addresses
 *   +------------------------------+
 *   | return address (resume rip)  |  0x38   popped into r8, then `jmp *r8`
 *   | rbp                          |  0x30
 *   | rbx                          |  0x28
 *   | r15                          |  0x20
 *   | r14                          |  0x18
 *   | r13                          |  0x10   new context: entry argument
 *   | r12                          |  0x08   new context: entry function
 *   | x87 CW (16) | MXCSR (32)     |  0x00   <- Context::sp
 *   +------------------------------+
 *            lower addresses
 *
 * Returning with pop+jmp instead of `ret` keeps the return-stack predictor out of
 * it: a `ret` into the other context would mispredict on every switch.
 *
 * FP control state: ldmxcsr and fldcw are slow (they serialise the FP pipeline), and
 * the two contexts almost always hold the same control words. We compare first and
 * load only what differs. Only the control bits of MXCSR (6..15) are callee-saved;
 * its status flags (0..5) stay as the running code left them.
 */

    .text
    .globl  spindle_switch_context
    .type   spindle_switch_context, @function
    .p2align 4
/* void spindle_switch_context(Context* from [rdi], Context* to [rsi]) */
spindle_switch_context:
    .cfi_startproc
    leaq    -0x38(%rsp), %rsp
    .cfi_adjust_cfa_offset 0x38
    stmxcsr 0x00(%rsp)
    fnstcw  0x04(%rsp)
    movq    %r12, 0x08(%rsp)
    movq    %r13, 0x10(%rsp)
    movq    %r14, 0x18(%rsp)
    movq    %r15, 0x20(%rsp)
    movq    %rbx, 0x28(%rsp)
    movq    %rbp, 0x30(%rsp)
    movl    0x00(%rsp), %ecx        /* ecx = our MXCSR */
    movzwl  0x04(%rsp), %edx        /* edx = our x87 CW */

    movq    %rsp, (%rdi)            /* from->sp = rsp */
    movq    (%rsi), %rsp            /* rsp = to->sp: now on the other stack */

    movl    0x00(%rsp), %eax
    xorl    %ecx, %eax
    testl   $0xffc0, %eax           /* MXCSR control bits differ? */
    jnz     .Lload_mxcsr
.Lmxcsr_done:
    cmpw    0x04(%rsp), %dx         /* x87 control word differs? */
    jne     .Lload_x87cw
.Lx87cw_done:
    movq    0x08(%rsp), %r12
    movq    0x10(%rsp), %r13
    movq    0x18(%rsp), %r14
    movq    0x20(%rsp), %r15
    movq    0x28(%rsp), %rbx
    movq    0x30(%rsp), %rbp
    movq    0x38(%rsp), %r8
    leaq    0x40(%rsp), %rsp
    .cfi_adjust_cfa_offset -0x40
    jmp     *%r8

.Lload_mxcsr:
    .cfi_adjust_cfa_offset 0x40
    movl    0x00(%rsp), %eax
    andl    $0xffffffc0, %eax       /* their control bits ...              */
    andl    $0x3f, %ecx
    orl     %ecx, %eax              /* ... with our current status flags  */
    movl    %eax, 0x00(%rsp)
    ldmxcsr 0x00(%rsp)
    jmp     .Lmxcsr_done
.Lload_x87cw:
    fldcw   0x04(%rsp)
    jmp     .Lx87cw_done
    .cfi_endproc
    .size   spindle_switch_context, .-spindle_switch_context

    .globl  spindle_make_context
    .type   spindle_make_context, @function
    .p2align 4
/* void spindle_make_context(Context* ctx [rdi], void* stack_top [rsi],
 *                           size_t stack_size [rdx], ContextEntry entry [rcx],
 *                           void* arg [r8])
 * Builds the frame above below 16 bytes of headroom at the 16-aligned top of the
 * stack, so that the trampoline starts with rsp 16-byte aligned, as after a `call`
 * has been undone.
 */
spindle_make_context:
    .cfi_startproc
    movq    %rsi, %rax
    andq    $-16, %rax
    leaq    -0x50(%rax), %rax
    stmxcsr 0x00(%rax)              /* the creator's FP control state */
    fnstcw  0x04(%rax)
    movw    $0, 0x06(%rax)
    movq    %rcx, 0x08(%rax)        /* r12 = entry */
    movq    %r8,  0x10(%rax)        /* r13 = arg */
    xorl    %ecx, %ecx
    movq    %rcx, 0x18(%rax)
    movq    %rcx, 0x20(%rax)
    movq    %rcx, 0x28(%rax)
    movq    %rcx, 0x30(%rax)        /* rbp = 0 ends frame-pointer walks */
    leaq    spindle_context_trampoline(%rip), %rcx
    movq    %rcx, 0x38(%rax)
    movq    $0, 0x40(%rax)
    movq    $0, 0x48(%rax)
    movq    %rax, (%rdi)
    ret
    .cfi_endproc
    .size   spindle_make_context, .-spindle_make_context

    .type   spindle_context_trampoline, @function
    .p2align 4
/* First code of every new context: entry(arg). Marked as the outermost frame so
 * that unwinders and debuggers stop here. entry never returns. */
spindle_context_trampoline:
    .cfi_startproc
    .cfi_undefined rip
    movq    %r13, %rdi
    callq   *%r12
    ud2
    .cfi_endproc
    .size   spindle_context_trampoline, .-spindle_context_trampoline

    .section .note.GNU-stack, "", @progbits

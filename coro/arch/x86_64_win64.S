/*
 * spindle context switch for x86-64, Microsoft x64 ABI (Windows; built with
 * mingw-w64's GNU as).
 *
 * Win64 makes rbx, rbp, rdi, rsi, r12-r15, rsp and xmm6-xmm15 (all 128 bits)
 * callee-saved, plus the control bits of MXCSR and the x87 control word. A stack
 * switch must also carry the Thread Information Block fields that describe the
 * running stack, read through gs: by the system's exception dispatcher and stack
 * growth (and by wine's):
 *
 *   gs:0x00    NT_TIB.ExceptionList   x86 SEH chain head; unused by x64 SEH, but
 *                                     wine keeps its own handler frames there
 *   gs:0x08    NT_TIB.StackBase       top of the running stack
 *   gs:0x10    NT_TIB.StackLimit      lowest committed address of it
 *   gs:0x20    NT_TIB.FiberData       Win32 fiber data (GetFiberData)
 *   gs:0x1478  TEB.DeallocationStack  base of the stack's reservation
 *
 * An exception raised on a stack outside [StackLimit, StackBase] is not
 * dispatched at all (wine: "Exception frame is not in stack limits"), and a
 * guard-page hit is turned into STATUS_STACK_OVERFLOW only inside
 * [DeallocationStack, StackBase]; so every context carries its own values.
 *
 * spindle_switch_context stores that state on the running stack, writes rsp to
 * Context::sp (offset 0), loads the other context's rsp and reloads its frame:
 *
 *            higher addresses
 *   +---------------------------------+
 *   | return address (resume rip)     |  0x118   popped into r8, then `jmp *r8`
 *   | rbp                             |  0x110
 *   | rbx                             |  0x108
 *   | rsi                             |  0x100
 *   | rdi                             |  0x0f8
 *   | r15                             |  0x0f0
 *   | r14                             |  0x0e8
 *   | r13                             |  0x0e0   new context: entry argument
 *   | r12                             |  0x0d8   new context: entry function
 *   | gs:0x20    FiberData            |  0x0d0   new context: 0
 *   | gs:0x1478  DeallocationStack    |  0x0c8   new: Context::stack_reservation
 *   | gs:0x10    StackLimit           |  0x0c0   new: stack_top - stack_size
 *   | gs:0x08    StackBase            |  0x0b8   new: stack_top
 *   | gs:0x00    ExceptionList        |  0x0b0   new: -1, the end of the chain
 *   | xmm15                           |  0x0a0
 *   | ...                             |
 *   | xmm6                            |  0x010   (16-byte aligned: movaps)
 *   | (padding)                       |  0x008
 *   | pad (16) | x87 CW (16) | MXCSR  |  0x000   <- Context::sp (16-byte aligned)
 *   +---------------------------------+
 *            lower addresses
 *
 * On entry rsp is 8 mod 16 (the return address was just pushed); 0x118 is 8 mod
 * 16, so the frame's base, and with it every xmm slot, is 16-byte aligned.
 *
 * As in the System V file: pop+jmp instead of `ret`, and MXCSR / x87 CW are loaded
 * only when they differ from the running ones (both loads serialise the FP
 * pipeline); only MXCSR's control bits (6..15) move, its status flags stay.
 *
 * Between loading the new rsp and storing the new TIB fields, rsp and the TIB
 * disagree. Nothing can observe that: no exception is raised in between, and
 * Windows runs no user-mode code on a thread asynchronously (user APCs run only
 * in alertable waits).
 */

    .text
    .globl  spindle_switch_context
    .def    spindle_switch_context; .scl 2; .type 32; .endef
    .p2align 4
/* void spindle_switch_context(Context* from [rcx], Context* to [rdx]) */
spindle_switch_context:
    leaq    -0x118(%rsp), %rsp
    stmxcsr 0x00(%rsp)
    fnstcw  0x04(%rsp)
    movaps  %xmm6, 0x10(%rsp)
    movaps  %xmm7, 0x20(%rsp)
    movaps  %xmm8, 0x30(%rsp)
    movaps  %xmm9, 0x40(%rsp)
    movaps  %xmm10, 0x50(%rsp)
    movaps  %xmm11, 0x60(%rsp)
    movaps  %xmm12, 0x70(%rsp)
    movaps  %xmm13, 0x80(%rsp)
    movaps  %xmm14, 0x90(%rsp)
    movaps  %xmm15, 0xa0(%rsp)
    movq    %gs:0x00, %rax
    movq    %gs:0x08, %r8
    movq    %gs:0x10, %r9
    movq    %gs:0x1478, %r10
    movq    %gs:0x20, %r11
    movq    %rax, 0xb0(%rsp)
    movq    %r8, 0xb8(%rsp)
    movq    %r9, 0xc0(%rsp)
    movq    %r10, 0xc8(%rsp)
    movq    %r11, 0xd0(%rsp)
    movq    %r12, 0xd8(%rsp)
    movq    %r13, 0xe0(%rsp)
    movq    %r14, 0xe8(%rsp)
    movq    %r15, 0xf0(%rsp)
    movq    %rdi, 0xf8(%rsp)
    movq    %rsi, 0x100(%rsp)
    movq    %rbx, 0x108(%rsp)
    movq    %rbp, 0x110(%rsp)
    movl    0x00(%rsp), %r9d        /* r9d = our MXCSR */
    movzwl  0x04(%rsp), %r10d       /* r10d = our x87 CW */

    movq    %rsp, (%rcx)            /* from->sp = rsp */
    movq    (%rdx), %rsp            /* rsp = to->sp: now on the other stack */

    movl    0x00(%rsp), %eax
    xorl    %r9d, %eax
    testl   $0xffc0, %eax           /* MXCSR control bits differ? */
    jnz     .Lload_mxcsr
.Lmxcsr_done:
    cmpw    0x04(%rsp), %r10w       /* x87 control word differs? */
    jne     .Lload_x87cw
.Lx87cw_done:
    movaps  0x10(%rsp), %xmm6
    movaps  0x20(%rsp), %xmm7
    movaps  0x30(%rsp), %xmm8
    movaps  0x40(%rsp), %xmm9
    movaps  0x50(%rsp), %xmm10
    movaps  0x60(%rsp), %xmm11
    movaps  0x70(%rsp), %xmm12
    movaps  0x80(%rsp), %xmm13
    movaps  0x90(%rsp), %xmm14
    movaps  0xa0(%rsp), %xmm15
    movq    0xb0(%rsp), %rax
    movq    0xb8(%rsp), %r8
    movq    0xc0(%rsp), %r9
    movq    0xc8(%rsp), %r10
    movq    0xd0(%rsp), %r11
    movq    %rax, %gs:0x00
    movq    %r8, %gs:0x08
    movq    %r9, %gs:0x10
    movq    %r10, %gs:0x1478
    movq    %r11, %gs:0x20
    movq    0xd8(%rsp), %r12
    movq    0xe0(%rsp), %r13
    movq    0xe8(%rsp), %r14
    movq    0xf0(%rsp), %r15
    movq    0xf8(%rsp), %rdi
    movq    0x100(%rsp), %rsi
    movq    0x108(%rsp), %rbx
    movq    0x110(%rsp), %rbp
    movq    0x118(%rsp), %r8
    leaq    0x120(%rsp), %rsp
    jmp     *%r8

.Lload_mxcsr:
    movl    0x00(%rsp), %eax
    andl    $0xffffffc0, %eax       /* their control bits ...              */
    andl    $0x3f, %r9d
    orl     %r9d, %eax              /* ... with our current status flags  */
    movl    %eax, 0x00(%rsp)
    ldmxcsr 0x00(%rsp)
    jmp     .Lmxcsr_done
.Lload_x87cw:
    fldcw   0x04(%rsp)
    jmp     .Lx87cw_done

    .globl  spindle_make_context
    .def    spindle_make_context; .scl 2; .type 32; .endef
    .p2align 4
/* void spindle_make_context(Context* ctx [rcx], void* stack_top [rdx],
 *                           size_t stack_size [r8], ContextEntry entry [r9],
 *                           void* arg [0x28(%rsp): above the return address and
 *                                      the caller's 32 bytes of shadow space])
 * Builds the frame above at the 16-aligned top of the stack, 0x10 bytes below it,
 * so that the trampoline starts with rsp 16-byte aligned and a zero "return
 * address" at (%rsp) for stack walks to stop at.
 */
spindle_make_context:
    movq    %rdx, %rax
    andq    $-16, %rax
    leaq    -0x130(%rax), %rax
    stmxcsr 0x00(%rax)              /* the creator's FP control state */
    fnstcw  0x04(%rax)
    movw    $0, 0x06(%rax)
    movq    $0, 0x08(%rax)
    xorps   %xmm0, %xmm0            /* xmm6-xmm15 start at zero */
    movaps  %xmm0, 0x10(%rax)
    movaps  %xmm0, 0x20(%rax)
    movaps  %xmm0, 0x30(%rax)
    movaps  %xmm0, 0x40(%rax)
    movaps  %xmm0, 0x50(%rax)
    movaps  %xmm0, 0x60(%rax)
    movaps  %xmm0, 0x70(%rax)
    movaps  %xmm0, 0x80(%rax)
    movaps  %xmm0, 0x90(%rax)
    movaps  %xmm0, 0xa0(%rax)
    movq    $-1, 0xb0(%rax)         /* ExceptionList: empty */
    movq    %rdx, 0xb8(%rax)        /* StackBase */
    movq    %rdx, %r10
    subq    %r8, %r10
    movq    %r10, 0xc0(%rax)        /* StackLimit = stack_top - stack_size */
    movq    0x40(%rcx), %r11        /* ctx->stack_reservation, or StackLimit */
    testq   %r11, %r11
    cmovzq  %r10, %r11
    movq    %r11, 0xc8(%rax)        /* DeallocationStack */
    movq    $0, 0xd0(%rax)          /* FiberData: not a Win32 fiber */
    movq    %r9, 0xd8(%rax)         /* r12 = entry */
    movq    0x28(%rsp), %r10
    movq    %r10, 0xe0(%rax)        /* r13 = arg */
    xorl    %r10d, %r10d
    movq    %r10, 0xe8(%rax)
    movq    %r10, 0xf0(%rax)
    movq    %r10, 0xf8(%rax)
    movq    %r10, 0x100(%rax)
    movq    %r10, 0x108(%rax)
    movq    %r10, 0x110(%rax)       /* rbp = 0 ends frame-pointer walks */
    leaq    spindle_context_trampoline(%rip), %r10
    movq    %r10, 0x118(%rax)
    movq    $0, 0x120(%rax)         /* the trampoline's return address */
    movq    $0, 0x128(%rax)
    movq    %rax, (%rcx)
    ret

    .def    spindle_context_trampoline; .scl 3; .type 32; .endef
    .p2align 4
/* First code of every new context: entry(arg), with the 32 bytes of shadow space
 * the callee may use. Its unwind info (.seh_*) makes it an ordinary frame whose
 * return address is 0, where Windows' unwinder and debuggers stop. entry never
 * returns; ud2 also keeps the return address of the call inside this function. */
    .seh_proc spindle_context_trampoline
spindle_context_trampoline:
    subq    $0x20, %rsp
    .seh_stackalloc 0x20
    .seh_endprologue
    movq    %r13, %rcx
    callq   *%r12
    ud2
    .seh_endproc

/*
 * spindle context switch for aarch64 (AAPCS64: Linux, and any other AAPCS64 ELF
 * target).
 *
 * AAPCS64 makes x19-x28, the frame pointer x29, the link register x30, sp, and the
 * low 64 bits of v8-v15 (d8-d15) callee-saved. spindle_switch_context stores
 * exactly that on the running stack, writes sp to Context::sp (offset 0), loads
 * the other context's sp and reloads its frame:
 *
 *            higher addresses
 *   +---------------+---------------+
 *   | x29 (fp)      | x30 (lr)      |  0x90   lr: where the context resumes (`ret`)
 *   | x27           | x28           |  0x80
 *   | x25           | x26           |  0x70
 *   | x23           | x24           |  0x60
 *   | x21           | x22           |  0x50
 *   | x19           | x20           |  0x40   new context: x19 entry, x20 argument
 *   | d14           | d15           |  0x30
 *   | d12           | d13           |  0x20
 *   | d10           | d11           |  0x10
 *   | d8            | d9            |  0x00   <- Context::sp (16-byte aligned)
 *   +---------------+---------------+
 *            lower addresses
 *
 * Only d8-d15 are saved, not q8-q15: the ABI leaves the upper 64 bits of v8-v15 to
 * the caller, so the compiler never keeps a live value there across a call.
 *
 * FP control state: not saved, by design. AAPCS64 (section 6.1.2, "SIMD and
 * Floating-Point registers") does not make FPCR callee-saved. It calls FPCR "a
 * global register": its rounding mode (bits 22-23), flush-to-zero (24) and
 * exception-control bits (8-12) "may be modified by calls to specific support
 * functions that affect the global state of the application", and the remaining
 * bits are reserved. FPSR (the cumulative exception flags) is "not preserved
 * across a public interface". So on aarch64 the FP mode belongs to the thread:
 * fesetround() inside a coroutine is still in force in whoever resumed it, unlike
 * x86-64, whose ABIs make the MXCSR and x87 control words callee-saved.
 *
 * The resume is a `ret`: it pops the return-stack predictor entry that our
 * caller's `bl` pushed, so the predictor stays in step with the call depth (it
 * mispredicts this one return either way).
 */

    .text
    .globl  spindle_switch_context
    .type   spindle_switch_context, %function
    .p2align 4
/* void spindle_switch_context(Context* from [x0], Context* to [x1]) */
spindle_switch_context:
    .cfi_startproc
    sub     sp, sp, #0xa0
    .cfi_def_cfa_offset 0xa0
    stp     d8, d9, [sp, #0x00]
    stp     d10, d11, [sp, #0x10]
    stp     d12, d13, [sp, #0x20]
    stp     d14, d15, [sp, #0x30]
    stp     x19, x20, [sp, #0x40]
    stp     x21, x22, [sp, #0x50]
    stp     x23, x24, [sp, #0x60]
    stp     x25, x26, [sp, #0x70]
    stp     x27, x28, [sp, #0x80]
    stp     x29, x30, [sp, #0x90]
    .cfi_offset x29, -0x10
    .cfi_offset x30, -0x08

    mov     x9, sp
    str     x9, [x0]                /* from->sp = sp */
    ldr     x9, [x1]
    mov     sp, x9                  /* sp = to->sp: now on the other stack */

    ldp     d8, d9, [sp, #0x00]
    ldp     d10, d11, [sp, #0x10]
    ldp     d12, d13, [sp, #0x20]
    ldp     d14, d15, [sp, #0x30]
    ldp     x19, x20, [sp, #0x40]
    ldp     x21, x22, [sp, #0x50]
    ldp     x23, x24, [sp, #0x60]
    ldp     x25, x26, [sp, #0x70]
    ldp     x27, x28, [sp, #0x80]
    ldp     x29, x30, [sp, #0x90]
    add     sp, sp, #0xa0
    .cfi_def_cfa_offset 0
    .cfi_restore x29
    .cfi_restore x30
    ret
    .cfi_endproc
    .size   spindle_switch_context, .-spindle_switch_context

    .globl  spindle_make_context
    .type   spindle_make_context, %function
    .p2align 4
/* void spindle_make_context(Context* ctx [x0], void* stack_top [x1],
 *                           size_t stack_size [x2], ContextEntry entry [x3],
 *                           void* arg [x4])
 * Builds the frame above with 16 bytes of zeroed headroom below the 16-aligned
 * top of the stack; the trampoline starts with sp just above the frame, aligned.
 * Every saved register but x19, x20 and x30 starts at zero; x29 = 0 ends
 * frame-pointer walks at the trampoline.
 */
spindle_make_context:
    .cfi_startproc
    and     x9, x1, #~15
    sub     x9, x9, #0xb0
    stp     xzr, xzr, [x9, #0x00]   /* d8-d15 */
    stp     xzr, xzr, [x9, #0x10]
    stp     xzr, xzr, [x9, #0x20]
    stp     xzr, xzr, [x9, #0x30]
    stp     x3, x4, [x9, #0x40]     /* x19 = entry, x20 = arg */
    stp     xzr, xzr, [x9, #0x50]
    stp     xzr, xzr, [x9, #0x60]
    stp     xzr, xzr, [x9, #0x70]
    stp     xzr, xzr, [x9, #0x80]
    adr     x10, spindle_context_trampoline
    stp     xzr, x10, [x9, #0x90]   /* x29 = 0, x30 = trampoline */
    stp     xzr, xzr, [x9, #0xa0]   /* headroom */
    str     x9, [x0]
    ret
    .cfi_endproc
    .size   spindle_make_context, .-spindle_make_context

    .type   spindle_context_trampoline, %function
    .p2align 4
/* First code of every new context: entry(arg). x30 is marked undefined, so
 * unwinders and debuggers stop here instead of walking into whatever lies above
 * the stack. entry never returns. */
spindle_context_trampoline:
    .cfi_startproc
    .cfi_undefined x30
    mov     x0, x20
    blr     x19
    brk     #0
    .cfi_endproc
    .size   spindle_context_trampoline, .-spindle_context_trampoline

    .section .note.GNU-stack, "", %progbits

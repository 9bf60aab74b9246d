/*
 * Test support for aarch64 (AAPCS64): spindle_probe_callee_saved(fn, arg, seed).
 * Result bits: 0-9 x19-x28, 10 x29, 11-18 d8-d15.
 * Pattern for register i (in that order): seed + (i + 1) * 0x9e3779b97f4a7c15.
 *
 * x30 is not probed: the probe's own return through it shows it survived.
 * x29 carries a pattern, not a frame record, while fn runs; the CFI below is
 * sp-based, so unwinding through the probe does not depend on it.
 */
    .text
    .globl  spindle_probe_callee_saved
    .type   spindle_probe_callee_saved, %function
    .p2align 4
spindle_probe_callee_saved:
    .cfi_startproc
    stp     x29, x30, [sp, #-0xb0]!
    .cfi_def_cfa_offset 0xb0
    .cfi_offset x29, -0xb0
    .cfi_offset x30, -0xa8
    stp     x19, x20, [sp, #0x10]
    stp     x21, x22, [sp, #0x20]
    stp     x23, x24, [sp, #0x30]
    stp     x25, x26, [sp, #0x40]
    stp     x27, x28, [sp, #0x50]
    .cfi_offset x19, -0xa0
    .cfi_offset x20, -0x98
    .cfi_offset x21, -0x90
    .cfi_offset x22, -0x88
    .cfi_offset x23, -0x80
    .cfi_offset x24, -0x78
    .cfi_offset x25, -0x70
    .cfi_offset x26, -0x68
    .cfi_offset x27, -0x60
    .cfi_offset x28, -0x58
    stp     d8, d9, [sp, #0x60]
    stp     d10, d11, [sp, #0x70]
    stp     d12, d13, [sp, #0x80]
    stp     d14, d15, [sp, #0x90]
    .cfi_offset d8, -0x50
    .cfi_offset d9, -0x48
    .cfi_offset d10, -0x40
    .cfi_offset d11, -0x38
    .cfi_offset d12, -0x30
    .cfi_offset d13, -0x28
    .cfi_offset d14, -0x20
    .cfi_offset d15, -0x18
    str     x2, [sp, #0xa0]         /* seed */

    ldr     x10, .Lgolden
    mov     x9, x2
    .irp    reg, x19, x20, x21, x22, x23, x24, x25, x26, x27, x28, x29
    add     x9, x9, x10
    mov     \reg, x9
    .endr
    .irp    reg, d8, d9, d10, d11, d12, d13, d14, d15
    add     x9, x9, x10
    fmov    \reg, x9
    .endr

    mov     x16, x0
    mov     x0, x1
    blr     x16                     /* fn(arg) */

    /* x0 = bits of the registers that no longer hold their pattern */
    mov     x0, #0
    ldr     x9, [sp, #0xa0]
    ldr     x10, .Lgolden
    .macro  spindle_check reg, bit
    add     x9, x9, x10
    cmp     \reg, x9
    cset    x11, ne
    orr     x0, x0, x11, lsl #\bit
    .endm
    spindle_check x19, 0
    spindle_check x20, 1
    spindle_check x21, 2
    spindle_check x22, 3
    spindle_check x23, 4
    spindle_check x24, 5
    spindle_check x25, 6
    spindle_check x26, 7
    spindle_check x27, 8
    spindle_check x28, 9
    spindle_check x29, 10
    .macro  spindle_check_d dreg, bit
    fmov    x12, \dreg
    spindle_check x12, \bit
    .endm
    spindle_check_d d8, 11
    spindle_check_d d9, 12
    spindle_check_d d10, 13
    spindle_check_d d11, 14
    spindle_check_d d12, 15
    spindle_check_d d13, 16
    spindle_check_d d14, 17
    spindle_check_d d15, 18

    ldp     d8, d9, [sp, #0x60]
    ldp     d10, d11, [sp, #0x70]
    ldp     d12, d13, [sp, #0x80]
    ldp     d14, d15, [sp, #0x90]
    ldp     x19, x20, [sp, #0x10]
    ldp     x21, x22, [sp, #0x20]
    ldp     x23, x24, [sp, #0x30]
    ldp     x25, x26, [sp, #0x40]
    ldp     x27, x28, [sp, #0x50]
    ldp     x29, x30, [sp], #0xb0
    .cfi_def_cfa_offset 0
    ret
    .cfi_endproc

    .p2align 3
.Lgolden:
    .quad   0x9e3779b97f4a7c15
    .size   spindle_probe_callee_saved, .-spindle_probe_callee_saved

    .section .note.GNU-stack, "", %progbits

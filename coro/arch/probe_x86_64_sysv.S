/*
 * Test support for x86-64 System V: spindle_probe_callee_saved(fn, arg, seed).
 * Result bits: 0 rbx, 1 rbp, 2 r12, 3 r13, 4 r14, 5 r15.
 * Pattern for register i (in that order): seed + (i + 1) * 0x9e3779b97f4a7c15.
 */
    .text
    .globl  spindle_probe_callee_saved
    .type   spindle_probe_callee_saved, @function
    .p2align 4
spindle_probe_callee_saved:
    .cfi_startproc
    pushq   %rbp
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbp, 0
    pushq   %rbx
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %rbx, 0
    pushq   %r12
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r12, 0
    pushq   %r13
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r13, 0
    pushq   %r14
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r14, 0
    pushq   %r15
    .cfi_adjust_cfa_offset 8
    .cfi_rel_offset %r15, 0
    pushq   %rdx                    /* seed; also realigns rsp to 16 */
    .cfi_adjust_cfa_offset 8
    movq    %rdi, %rax
    movq    %rsi, %rdi
    movabsq $0x9e3779b97f4a7c15, %rcx
    leaq    (%rdx,%rcx), %rbx
    leaq    (%rbx,%rcx), %rbp
    leaq    (%rbp,%rcx), %r12
    leaq    (%r12,%rcx), %r13
    leaq    (%r13,%rcx), %r14
    leaq    (%r14,%rcx), %r15
    callq   *%rax
    xorl    %eax, %eax
    movq    (%rsp), %rdx
    movabsq $0x9e3779b97f4a7c15, %rcx
    addq    %rcx, %rdx
    cmpq    %rdx, %rbx
    je      1f
    orl     $1, %eax
1:  addq    %rcx, %rdx
    cmpq    %rdx, %rbp
    je      2f
    orl     $2, %eax
2:  addq    %rcx, %rdx
    cmpq    %rdx, %r12
    je      3f
    orl     $4, %eax
3:  addq    %rcx, %rdx
    cmpq    %rdx, %r13
    je      4f
    orl     $8, %eax
4:  addq    %rcx, %rdx
    cmpq    %rdx, %r14
    je      5f
    orl     $16, %eax
5:  addq    %rcx, %rdx
    cmpq    %rdx, %r15
    je      6f
    orl     $32, %eax
6:  popq    %rdx
    popq    %r15
    popq    %r14
    popq    %r13
    popq    %r12
    popq    %rbx
    popq    %rbp
    ret
    .cfi_endproc
    .size   spindle_probe_callee_saved, .-spindle_probe_callee_saved

    .section .note.GNU-stack, "", @progbits

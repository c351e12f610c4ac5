/*
 * Entry point of the guest payload (L2's -bios, loaded at 0x0, entered at EL1
 * with the MMU off).  Sets up the stack and the exception vectors, zeroes .bss
 * and calls main(); an exception prints one "G fault ..." line and parks the CPU.
 */
    .section .text.start, "ax"
    .global _start
_start:
    ldr     x0, =__stack_top
    mov     sp, x0
    adr     x0, vectors
    msr     vbar_el1, x0
    isb
    ldr     x0, =__bss_start
    ldr     x1, =__bss_end
1:  cmp     x0, x1
    b.hs    2f
    str     xzr, [x0], #8
    b       1b
2:  bl      main
3:  wfi
    b       3b

    .macro  vec kind
    .balign 0x80
    mov     x0, #\kind
    mrs     x1, esr_el1
    mrs     x2, elr_el1
    mrs     x3, far_el1
    b       on_exception
    .endm

    .balign 0x800
vectors:
    .irp    k, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15
    vec     \k
    .endr

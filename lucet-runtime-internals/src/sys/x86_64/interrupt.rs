//! The entry of the `Interrupted` builtin, in assembly.
//!
//! Generated code calls it from the cold path of an interrupt
//! check with the `preserve_all` convention: the call clobbers no
//! register, so the hot loop keeps its values in registers across it. The
//! entry saves every register the System V convention lets the Rust body
//! clobber (the integer scratch registers and all sixteen vector
//! registers, whole), calls the body, which may yield and come back much
//! later, and restores them.

use std::arch::global_asm;

use crate::builtins::interrupted;

global_asm!(
    ".text",
    ".globl lucet_builtin_interrupted_entry",
    ".type lucet_builtin_interrupted_entry,@function",
    ".p2align 4",
    "lucet_builtin_interrupted_entry:",
    // The return address made the stack 8 off 16-byte alignment; the
    // frame pointer puts it back, and the save area is a multiple of 16.
    "push rbp",
    "mov rbp, rsp",
    "sub rsp, 336",
    "mov [rsp + 0], rax",
    "mov [rsp + 8], rcx",
    "mov [rsp + 16], rdx",
    "mov [rsp + 24], rsi",
    "mov [rsp + 32], rdi",
    "mov [rsp + 40], r8",
    "mov [rsp + 48], r9",
    "mov [rsp + 56], r10",
    "mov [rsp + 64], r11",
    "movdqu [rsp + 80], xmm0",
    "movdqu [rsp + 96], xmm1",
    "movdqu [rsp + 112], xmm2",
    "movdqu [rsp + 128], xmm3",
    "movdqu [rsp + 144], xmm4",
    "movdqu [rsp + 160], xmm5",
    "movdqu [rsp + 176], xmm6",
    "movdqu [rsp + 192], xmm7",
    "movdqu [rsp + 208], xmm8",
    "movdqu [rsp + 224], xmm9",
    "movdqu [rsp + 240], xmm10",
    "movdqu [rsp + 256], xmm11",
    "movdqu [rsp + 272], xmm12",
    "movdqu [rsp + 288], xmm13",
    "movdqu [rsp + 304], xmm14",
    "movdqu [rsp + 320], xmm15",
    "call {target}",
    "movdqu xmm0, [rsp + 80]",
    "movdqu xmm1, [rsp + 96]",
    "movdqu xmm2, [rsp + 112]",
    "movdqu xmm3, [rsp + 128]",
    "movdqu xmm4, [rsp + 144]",
    "movdqu xmm5, [rsp + 160]",
    "movdqu xmm6, [rsp + 176]",
    "movdqu xmm7, [rsp + 192]",
    "movdqu xmm8, [rsp + 208]",
    "movdqu xmm9, [rsp + 224]",
    "movdqu xmm10, [rsp + 240]",
    "movdqu xmm11, [rsp + 256]",
    "movdqu xmm12, [rsp + 272]",
    "movdqu xmm13, [rsp + 288]",
    "movdqu xmm14, [rsp + 304]",
    "movdqu xmm15, [rsp + 320]",
    "mov rax, [rsp + 0]",
    "mov rcx, [rsp + 8]",
    "mov rdx, [rsp + 16]",
    "mov rsi, [rsp + 24]",
    "mov rdi, [rsp + 32]",
    "mov r8, [rsp + 40]",
    "mov r9, [rsp + 48]",
    "mov r10, [rsp + 56]",
    "mov r11, [rsp + 64]",
    "mov rsp, rbp",
    "pop rbp",
    "ret",
    ".size lucet_builtin_interrupted_entry, .-lucet_builtin_interrupted_entry",
    target = sym interrupted,
);

/*
 * A stand-in for bcryptprimitives.dll under Wine 8.0, which lacks it.
 *
 * Rust >= 1.78 executables for Windows import ProcessPrng from bcryptprimitives.dll
 * to seed their hash maps; without it every such .exe fails to load under Wine 8.0
 * (exit status 53). This DLL exports ProcessPrng on top of RtlGenRandom, which
 * advapi32 exports as SystemFunction036. scripts/windows-env.sh builds it with
 * mingw-w64 into the Wine prefix's system32. It is for the test prefix only: real
 * Windows (8 and later) has the real DLL.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    /* RtlGenRandom takes a ULONG length: fill larger requests in pieces. */
    while (len > 0) {
        ULONG piece = len > 0x40000000u ? 0x40000000u : (ULONG)len;
        if (!SystemFunction036(data, piece))
            return FALSE;
        data += piece;
        len -= piece;
    }
    return TRUE;
}

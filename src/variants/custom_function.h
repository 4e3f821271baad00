/* src/variants/custom_function.h — the user-defined autograd function (MyReLU) of the
 * `custom-function` variant, public so that `nabla verify` can gradient-check it as an op
 * (src/verify/verify.c) besides the variant that uses it. */
#ifndef NB_VARIANTS_CUSTOM_FUNCTION_H
#define NB_VARIANTS_CUSTOM_FUNCTION_H

#include "autograd/autograd.h"

/* MyReLU: forward saves its input and returns input.clamp(min=0), (N, H) -> (N, H);
 * backward returns the gradient with the elements where the input was negative zeroed. */
extern const nb_function nb_my_relu;

#endif

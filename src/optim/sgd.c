/* placeholder: being written */
typedef int nb_placeholder_sgd;
